"""Issue 19, item 16: the Prepare dialog opens wide enough for its parameters.

Processing restores the last size of any algorithm dialog (one setting for all); without one
it opens about 690 px wide, and Prepare's parameters (the products list, the extent and their
buttons) then got about 390 px of the 615 they ask for, cut off behind a sideways scroll bar.
"""
from __future__ import annotations

import pytest
from qgis.core import QgsSettings
from qgis.gui import QgsBrowserGuiModel
from qgis.PyQt.QtWidgets import QApplication, QScrollArea, QTextBrowser

GEOMETRY = "Windows/QgsProcessingDialogBase/geometry"  # Processing's remembered dialog size


@pytest.fixture
def no_saved_size():
    settings = QgsSettings()
    saved = settings.value(GEOMETRY)
    settings.remove(GEOMETRY)
    yield
    if saved is not None:
        settings.setValue(GEOMETRY, saved)


@pytest.mark.parametrize("saved", ["none", "narrow"])
def test_prepare_dialog_gives_its_parameters_the_room_they_ask_for(
        qgis_app, provider, qgis_iface, monkeypatch, no_saved_size, saved):
    import processing
    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser)
    if saved == "narrow":  # a Processing dialog was last closed 600 px wide
        other = processing.createAlgorithmDialog("native:buffer")
        other.resize(600, 500)
        QgsSettings().setValue(GEOMETRY, other.saveGeometry())
        other.deleteLater()
    dialog = processing.createAlgorithmDialog("smts_cloudfill:prepare")
    dialog.show()
    for _ in range(5):
        QApplication.processEvents()
    panel = dialog.mainWidget()
    scroll = next(a for a in dialog.findChildren(QScrollArea) if a.widget() is not None
                  and (a.widget() is panel or a.widget().isAncestorOf(panel)))
    # before: 688 px wide, 390 px for the parameters
    assert scroll.viewport().width() >= panel.sizeHint().width(), dialog.width()
    help_panel = dialog.findChild(QTextBrowser, "textShortHelp")
    assert help_panel.isVisible() and help_panel.width() >= 200  # the help still beside them
    dialog.close()
    dialog.deleteLater()
    QApplication.processEvents()
