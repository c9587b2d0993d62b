"""The dialogs' widget wrappers are named by dotted path in the algorithms' metadata (so that
algorithms/ never imports gui/; the import rules are checked in tests/core/test_layering.py):
each path must resolve to a class, as Processing resolves it when a dialog opens."""
from __future__ import annotations


def test_the_widget_paths_the_algorithms_name_are_classes(qgis_processing):
    """The wrappers are named by dotted path (never imported by algorithms/): each must resolve,
    as Processing resolves it when a dialog opens."""
    import importlib

    from smts_cloudfill_plugin.algorithms.dialog_widgets import (DATE_TABLE_WRAPPER,
                                                                 PRODUCT_FILES_WRAPPER)
    for path in (DATE_TABLE_WRAPPER, PRODUCT_FILES_WRAPPER):
        module, name = path.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module), name), type), path
