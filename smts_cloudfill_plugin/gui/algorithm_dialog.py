"""The Processing dialog of our algorithms, kept alive from Python for as long as Qt keeps it.

Why: Processing's ``AlgorithmDialog`` is a Python subclass, and its run's context and feedback
are attributes of the Python object. Once no Python name refers to it (the toolbar's
``createAlgorithmDialog(...).show()``, History's ``execAlgorithmDialog`` after the dialog was
closed mid-run), Python's garbage collector frees that object while the C++ dialog and its
background task live on; the task then reaches a freed context at the end of the run and QGIS
dies (``QObject::thread()`` in ``QgsProcessingAlgorithm::runPrepared``). QGIS's own toolbox
avoids it only by blocking in ``exec_()``.

Every way QGIS opens an algorithm's dialog (toolbox, toolbar, History, locator, menus) asks the
algorithm first through ``createCustomParametersWidget``; ours returns this dialog (handed to the
algorithms by plugin.py, ``algorithms/desktop_hooks.py``), which holds a reference to itself
until Qt destroys it (after the run, once it is closed).
"""
from __future__ import annotations

import functools

from processing.gui.AlgorithmDialog import AlgorithmDialog

#: Open dialogs by id: the references that keep their Python side alive.
_OPEN: dict[int, "PinnedAlgorithmDialog"] = {}
#: Minimum widths by algorithm name. Prepare's parameters (the products list, the extent and
#: their buttons) ask for 470 to 615 px, by font, beside the help panel: Processing's default
#: dialog (688 px in all) gave them 390 px and a sideways scroll bar. (Reconstruct's date table
#: widens its own dialog.)
MIN_WIDTHS = {"prepare": 960}


def _release(key: int, *_args) -> None:
    _OPEN.pop(key, None)


def open_dialog_count() -> int:
    """How many of our dialogs are alive (for tests)."""
    return len(_OPEN)


class PinnedAlgorithmDialog(AlgorithmDialog):
    """Processing's algorithm dialog, released only when Qt destroys it."""

    def __init__(self, algorithm, parent=None) -> None:
        super().__init__(algorithm, parent=parent)
        if algorithm is not None and algorithm.name() in MIN_WIDTHS:
            self.setMinimumWidth(MIN_WIDTHS[algorithm.name()])
        key = id(self)
        _OPEN[key] = self
        # The slot holds the key, not the dialog: no reference from Qt's side to the dialog.
        self.destroyed.connect(functools.partial(_release, key))
