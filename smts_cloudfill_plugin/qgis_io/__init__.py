"""The QGIS project's side of input and output, shared by the algorithms and the dialogs.

What a project layer is (its file, kind and date), what is wrong with a stack of them, how a
raster is styled, and what a dialog opens with from the project. QGIS core only (no widgets):
qgis_process uses it too. ``algorithms/`` and ``gui/`` both build on it and never on each other.
"""
