"""Issue 19, crashes 1-2: our algorithms' dialogs outlive every Python reference to them.

The desktop walk (test_desktop.py) shows the crash itself; this is the quick in-process check of
the mechanism: a dialog nobody in Python refers to keeps its Python side (and with it the run's
context) through a garbage collection, and is released once Qt deletes it.
"""
from __future__ import annotations

import gc

import pytest
from qgis.gui import QgsBrowserGuiModel, QgsProcessingAlgorithmDialogBase
from qgis.PyQt.QtCore import QEvent
from qgis.PyQt.QtWidgets import QApplication

from smts_cloudfill_plugin.gui.algorithm_dialog import PinnedAlgorithmDialog, open_dialog_count


def shown_dialogs() -> list:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QgsProcessingAlgorithmDialogBase) and w.isVisible()]


@pytest.mark.parametrize("algorithm", ["prepare", "reconstruct", "train"])
def test_dialog_keeps_its_python_side_until_qt_deletes_it(qgis_app, provider, qgis_iface,
                                                           monkeypatch, qt_wait, algorithm):
    import processing
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    before = open_dialog_count()
    processing.createAlgorithmDialog(f"smts_cloudfill:{algorithm}").show()  # as the toolbar
    gc.collect()
    dialogs = shown_dialogs()
    # Without the pin the collector frees the Python subclass: Qt's widget comes back as a plain
    # QDialog, and a run started from it dies on its freed context.
    assert len(dialogs) == 1 and isinstance(dialogs[0], PinnedAlgorithmDialog)
    assert dialogs[0].algorithm().id() == f"smts_cloudfill:{algorithm}"
    assert open_dialog_count() == before + 1
    dialogs[0].close()  # no run: Qt deletes it later, and the pin lets go
    del dialogs

    def deleted() -> bool:  # deleteLater runs when the event loop takes deferred deletions
        QApplication.sendPostedEvents(None, QEvent.DeferredDelete)
        return open_dialog_count() == before
    assert qt_wait(deleted, 5)


def test_without_the_desktop_hooks_qgis_uses_its_own_dialog(qgis_app, provider):
    """qgis_process (no initGui) sets no hooks: the algorithms ask for no dialog of ours."""
    from qgis.core import QgsApplication

    from smts_cloudfill_plugin.algorithms.desktop_hooks import set_desktop_hooks
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:train")
    set_desktop_hooks(None)  # the provider fixture sets them again for the next test
    assert algorithm.createCustomParametersWidget(None) is None
    algorithm.postProcessAlgorithm(None, None)  # no offer of a trained model, no error
