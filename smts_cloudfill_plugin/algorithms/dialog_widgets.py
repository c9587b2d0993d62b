"""Parameter metadata that names the dialog widget of a parameter, without importing it.

Processing's dialogs build a parameter's widget from ``{'widget_wrapper': {'class': ...}}``,
which QGIS 3.22 (processing/gui/wrappers.py, ``create_wrapper_from_metadata``) also takes as a
dotted class path and imports only when a dialog opens. So the algorithms name the wrappers of
``gui/`` by path, import nothing of it, and qgis_process, which never builds widgets, needs no
GUI.
"""
from __future__ import annotations

#: The plugin's package ('smts_cloudfill_plugin', or the folder QGIS installed it as).
_PLUGIN = __package__.rsplit(".", 1)[0]
DATE_TABLE_WRAPPER = f"{_PLUGIN}.gui.date_table_wrapper.StackTableWrapper"
PRODUCT_FILES_WRAPPER = f"{_PLUGIN}.gui.product_files.ProductFilesWrapper"


def date_table_metadata(role: str = "msi") -> dict:
    """Metadata that puts the per-date table (``role='msi'``) or its linked view in the dialog."""
    return {"widget_wrapper": {"class": DATE_TABLE_WRAPPER, "role": role}}


def product_files_metadata() -> dict:
    """Metadata that puts the Sentinel-2 products picker (files and folders) in the dialog.

    QGIS 3.22's own widget for a multiple-file parameter loads each value as a map layer when
    the dialog sets it (a preset, a re-run from the history) and drops what does not load: SAFE
    zips and folders always, so it showed '0 inputs selected' and ran without products. Its
    picker cannot choose folders either.
    """
    return {"widget_wrapper": {"class": PRODUCT_FILES_WRAPPER}}
