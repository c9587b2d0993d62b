"""The swipe: the "after" layer left of the divider, the canvas ("before") right of it.

Two flat rasters (red "after", blue "before") on a shown 400 x 300 canvas; the split is moved
with mouse events sent to the canvas viewport, and the canvas is grabbed to check pixels.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsMultiBandColorRenderer, QgsRasterLayer, QgsRectangle
from qgis.PyQt.QtCore import QEvent, QPointF, Qt
from qgis.PyQt.QtGui import QColor, QMouseEvent
from qgis.PyQt.QtWidgets import QApplication

from smts_cloudfill_plugin.gui.swipe import SwipeMapItem, SwipeMapTool

RED, BLUE = (220, 30, 30), (30, 30, 220)
WIDTH, HEIGHT = 400, 300
ROW = HEIGHT // 2


def flat_layer(path, rgb, name) -> QgsRasterLayer:
    """A 40 x 30 pixel, 3-band Byte GeoTIFF of one colour (EPSG:32631, 10 m pixels)."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 40, 30, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((574680.0, 10.0, 0.0, 5622440.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    ds.SetProjection(srs.ExportToWkt())
    for band, value in enumerate(rgb, start=1):
        ds.GetRasterBand(band).WriteArray(np.full((30, 40), value, np.uint8))
    ds = None
    layer = QgsRasterLayer(str(path), name)
    assert layer.isValid()
    layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3))  # no stretch
    return layer


@pytest.fixture
def layers(tmp_path):
    return flat_layer(tmp_path / "after.tif", RED, "after"), \
        flat_layer(tmp_path / "before.tif", BLUE, "before")


def show(canvas, canvas_layers, qt_wait) -> None:
    extent = canvas_layers[-1].extent()
    canvas.setDestinationCrs(canvas_layers[-1].crs())
    canvas.setLayers(canvas_layers)
    canvas.setExtent(QgsRectangle(extent))
    canvas.refresh()
    canvas.waitWhileRendering()
    assert qt_wait(lambda: not canvas.isDrawing())


def drag(canvas, *xs) -> None:
    """Press at xs[0], move through the rest, release at the last (viewport pixels)."""
    viewport = canvas.viewport()
    for i, x in enumerate(xs):
        kind = QEvent.MouseButtonPress if i == 0 else QEvent.MouseMove
        buttons = Qt.LeftButton
        QApplication.sendEvent(viewport, QMouseEvent(kind, QPointF(x, ROW), Qt.LeftButton if i == 0
                                                     else Qt.NoButton, buttons, Qt.NoModifier))
    QApplication.sendEvent(viewport, QMouseEvent(QEvent.MouseButtonRelease, QPointF(xs[-1], ROW),
                                                 Qt.LeftButton, Qt.NoButton, Qt.NoModifier))
    QApplication.processEvents()


def colour(image, x, y=ROW):
    c = QColor(image.pixel(x, y))
    return c.red(), c.green(), c.blue()


def is_(rgb, expected, tol=12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, expected))


def grab(canvas):
    QApplication.processEvents()
    image = canvas.viewport().grab().toImage()
    assert (image.width(), image.height()) == (WIDTH, HEIGHT)
    return image


def swipe_items(canvas):
    return [i for i in canvas.scene().items() if isinstance(i, SwipeMapItem)]


def assert_split(canvas, split, left=RED, right=BLUE):
    image = grab(canvas)
    for x in (2, split // 2, split - 4):
        assert is_(colour(image, x), left), (x, colour(image, x))
    for x in (split + 4, (split + WIDTH) // 2, WIDTH - 3):
        assert is_(colour(image, x), right), (x, colour(image, x))
    for y in (3, HEIGHT - 4):  # the whole height, not just the middle row
        assert is_(colour(image, split // 2, y), left) and is_(colour(image, split + 4, y), right)


@pytest.mark.parametrize("after_in_canvas", [False, True],
                         ids=["any-two-rasters", "filled-over-cloudy"])
def test_swipe_shows_after_left_of_split(shown_canvas, layers, qt_wait, after_in_canvas):
    canvas = shown_canvas
    after, before = layers
    canvas_layers = [after, before] if after_in_canvas else [before]
    show(canvas, canvas_layers, qt_wait)
    # without the swipe the canvas shows its top layer everywhere
    top = RED if after_in_canvas else BLUE
    assert is_(colour(grab(canvas), 10), top) and is_(colour(grab(canvas), 390), top)

    tool = SwipeMapTool(canvas, after, synchronous=True)
    canvas.setMapTool(tool)
    assert len(swipe_items(canvas)) == 1
    assert not tool.item.image().isNull()

    split = int(WIDTH * 0.4)
    drag(canvas, 50, 120, split)
    assert tool.item.split_x == split
    assert_split(canvas, split)

    drag(canvas, split, 280)  # moving the divider moves the boundary
    assert_split(canvas, 280)

    canvas.unsetMapTool(tool)  # deactivating removes the item and changes no layer
    assert swipe_items(canvas) == [] and tool.item is None
    assert [lyr.id() for lyr in canvas.layers()] == [lyr.id() for lyr in canvas_layers]
    image = grab(canvas)
    assert is_(colour(image, 10), top) and is_(colour(image, 390), top)


def test_swipe_renders_in_background_and_follows_extent(shown_canvas, layers, qt_wait):
    """The plugin path: a parallel job, no waiting in the GUI thread; re-render on pan/zoom."""
    canvas = shown_canvas
    after, before = layers
    show(canvas, [before], qt_wait)
    tool = SwipeMapTool(canvas, after)
    canvas.setMapTool(tool)
    assert qt_wait(lambda: not tool.item.image().isNull() and not tool.item.is_rendering())
    tool.set_split(200)
    assert_split(canvas, 200)

    # zoom out: the layers now cover only the middle of the canvas; both sides follow
    extent = QgsRectangle(before.extent())
    extent.scale(2.0)
    canvas.setExtent(extent)
    canvas.refresh()
    assert qt_wait(lambda: not canvas.isDrawing() and not tool.item.is_rendering()
                   and tool.item.image().width() > 0)
    assert qt_wait(lambda: is_(colour(grab(canvas), 150), RED)
                   and is_(colour(grab(canvas), 250), BLUE), 5)
    image = grab(canvas)
    assert is_(colour(image, 10), (255, 255, 255))  # canvas background outside the layers
    canvas.unsetMapTool(tool)
    assert swipe_items(canvas) == []


def test_default_after_layer_is_current_raster(shown_canvas, layers, qt_wait):
    canvas = shown_canvas
    after, before = layers
    show(canvas, [after, before], qt_wait)
    canvas.setCurrentLayer(after)
    tool = SwipeMapTool(canvas, synchronous=True)
    canvas.setMapTool(tool)
    assert tool.item.after_layer() is after
    tool.set_split(100)
    assert_split(canvas, 100)
    canvas.unsetMapTool(tool)


def test_swipe_follows_after_layer_style_and_removal(shown_canvas, layers, qt_wait,
                                                     qgis_new_project):
    canvas = shown_canvas
    after, before = layers
    qgis_new_project.addMapLayers([after, before])
    show(canvas, [before], qt_wait)
    tool = SwipeMapTool(canvas, after, synchronous=True)
    canvas.setMapTool(tool)
    tool.set_split(200)
    assert_split(canvas, 200)
    after.setRenderer(QgsMultiBandColorRenderer(after.dataProvider(), 2, 1, 3))  # now green
    after.triggerRepaint()  # repaintRequested re-renders the swipe image
    assert_split(canvas, 200, left=(30, 220, 30))
    qgis_new_project.removeMapLayer(after.id())  # deleted: the swipe shows the canvas only
    assert tool.item.after_layer() is None and tool.item.image().isNull()
    image = grab(canvas)
    assert is_(colour(image, 100), BLUE) and is_(colour(image, 300), BLUE)
    canvas.unsetMapTool(tool)


def test_build_toolbar_with_iface_stub(qgis_iface, qgis_new_project, layers):
    from smts_cloudfill_plugin.gui.toolbar import build_toolbar, unload_toolbar
    plugin = SimpleNamespace(iface=qgis_iface, toolbar=None, actions=[], swipe_tool=None)
    build_toolbar(plugin)
    try:
        texts = [a.text() for a in plugin.actions]
        assert texts == ["Reconstruct cloudy MSI", "Swipe filled / cloudy", "Install PyTorch..."]
        assert plugin.toolbar.windowTitle() == "SMTS CloudFill"
        assert plugin.toolbar.actions() == plugin.actions
        swipe = plugin.actions[1]
        assert swipe.isCheckable() and not plugin.actions[0].isCheckable()
        assert isinstance(plugin.swipe_tool, SwipeMapTool)
        assert all(not a.icon().isNull() for a in plugin.actions)

        # no raster selected: a warning, the action stays unchecked, no tool is set
        bar = qgis_iface.messageBar()
        bar.clear_messages()
        swipe.trigger()
        assert not swipe.isChecked()
        assert qgis_iface.mapCanvas().mapTool() is not plugin.swipe_tool
        from qgis.core import Qgis
        assert bar.get_messages(Qgis.Warning)

        # a raster selected: the swipe tool takes it as the "after" layer
        after, before = layers
        qgis_new_project.addMapLayers([before, after])
        qgis_iface.setActiveLayer(after)
        swipe.trigger()
        assert swipe.isChecked()
        assert qgis_iface.mapCanvas().mapTool() is plugin.swipe_tool
        assert plugin.swipe_tool.item.after_layer() is after
        swipe.trigger()  # unchecking turns the swipe off
        assert qgis_iface.mapCanvas().mapTool() is None and plugin.swipe_tool.item is None
    finally:
        unload_toolbar(plugin)
        assert plugin.swipe_tool is None
