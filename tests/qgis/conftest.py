"""Fixtures for the QGIS GUI tests (pytest-qgis provides qgis_app, qgis_iface, ...).

pytest-qgis's own ``qgis_canvas`` is never shown (its output size stays 98 x 28), so tests that
look at rendered pixels use ``shown_canvas``: a real, shown QgsMapCanvas of 400 x 300 pixels.
"""
from __future__ import annotations

import pytest
from pytest_qgis.utils import wait_until as qgis_wait_until
from qgis.core import QgsApplication
from qgis.gui import QgsMapCanvas

CANVAS_SIZE = (400, 300)


def wait_until(condition, timeout: float = 10.0) -> bool:
    """pytest-qgis's wait helper (an event loop polling ``condition``), with seconds."""
    return qgis_wait_until(condition, timeout_milliseconds=int(timeout * 1000))


@pytest.fixture
def shown_canvas(qgis_app):
    """A shown QgsMapCanvas of CANVAS_SIZE pixels; closed and deleted after the test."""
    canvas = QgsMapCanvas()
    canvas.setFrameStyle(0)  # no frame: viewport pixels == canvas pixels
    canvas.resize(*CANVAS_SIZE)
    canvas.show()
    wait_until(lambda: canvas.mapSettings().outputSize().width() == CANVAS_SIZE[0], 5)
    yield canvas
    if canvas.mapTool() is not None:
        canvas.unsetMapTool(canvas.mapTool())
    canvas.stopRendering()
    canvas.close()
    canvas.deleteLater()
    QgsApplication.processEvents()


@pytest.fixture
def qt_wait():
    """``wait_until`` for tests: ``qt_wait(condition, timeout=10.0) -> bool``."""
    return wait_until


_PROVIDERS: list = []  # keep the Python objects alive: the registry does not own them


@pytest.fixture
def provider(qgis_processing, qgis_iface):
    """The SMTS CloudFill provider, (re-)registered when missing (test_plugin unloads it), with
    the desktop's hooks as the plugin's initGui sets them (the pinned dialog)."""
    from smts_cloudfill_plugin.algorithms.desktop_hooks import set_desktop_hooks
    from smts_cloudfill_plugin.algorithms.provider import SmtsProvider
    from smts_cloudfill_plugin.plugin import desktop_hooks
    set_desktop_hooks(desktop_hooks(qgis_iface))
    registry = QgsApplication.processingRegistry()
    if registry.providerById("smts_cloudfill") is None:
        _PROVIDERS.append(SmtsProvider())
        registry.addProvider(_PROVIDERS[-1])
    return registry.providerById("smts_cloudfill")
