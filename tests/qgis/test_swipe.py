"""The swipe: the "after" layer left of the divider, the canvas ("before") right of it.

Two flat rasters (red "after", blue "before") on a shown 400 x 300 canvas; the split is moved
with mouse events sent to the canvas viewport, and the canvas is grabbed to check pixels.
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsMultiBandColorRenderer, QgsRasterLayer, QgsRectangle
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QEvent, QPointF, Qt
from qgis.PyQt.QtGui import QColor, QMouseEvent
from qgis.PyQt.QtWidgets import QApplication

from sample_stack import MSI, SCL  # tests/ is on sys.path
from smts_cloudfill_plugin.gui.swipe_item import SwipeMapItem
from smts_cloudfill_plugin.gui.swipe_tool import SwipeMapTool

RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 220, 30)
WHITE = (255, 255, 255)  # the canvas background
WIDTH, HEIGHT = 400, 300
ROW = HEIGHT // 2


def flat_layer(path, rgb, name, metadata=None, columns=40) -> QgsRasterLayer:
    """A ``columns`` x 30 pixel, 3-band Byte GeoTIFF of one colour (EPSG:32631, 10 m pixels),
    its left edge on the others' (``columns`` < 40: it covers only the left of the view)."""
    ds = gdal.GetDriverByName("GTiff").Create(str(path), columns, 30, 3, gdal.GDT_Byte)
    ds.SetGeoTransform((574680.0, 10.0, 0.0, 5622440.0, 0.0, -10.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    ds.SetProjection(srs.ExportToWkt())
    if metadata:
        ds.SetMetadata(metadata)
    for band, value in enumerate(rgb, start=1):
        ds.GetRasterBand(band).WriteArray(np.full((30, columns), value, np.uint8))
    ds = None
    layer = QgsRasterLayer(str(path), name)
    assert layer.isValid()
    layer.setRenderer(QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3))  # no stretch
    _LAYERS.append(layer)
    return layer


_LAYERS: list = []


@pytest.fixture(autouse=True)
def _delete_layers_not_in_a_project():
    """A raster layer that Python owns, deleted after ``exitQgis``, crashes: pytest drops the
    last test's fixture values only after the session's teardown. Delete them with the test."""
    yield
    QApplication.processEvents()
    while _LAYERS:
        layer = _LAYERS.pop()
        if not sip.isdeleted(layer) and sip.ispyowned(layer):
            sip.delete(layer)


@pytest.fixture
def layers(tmp_path):
    return flat_layer(tmp_path / "after.tif", RED, "after"), \
        flat_layer(tmp_path / "before.tif", BLUE, "before")


def show(canvas, canvas_layers, qt_wait, extent_of=None) -> None:
    extent = (extent_of or canvas_layers[-1]).extent()
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


def test_build_toolbar_with_iface_stub(qgis_iface, qgis_new_project, layers, provider):
    from smts_cloudfill_plugin.gui.toolbar import build_toolbar, unload_toolbar
    plugin = SimpleNamespace(iface=qgis_iface, toolbar=None, actions=[], swipe_tool=None)
    build_toolbar(plugin)
    try:
        texts = [a.text() for a in plugin.actions]
        # Issue 19 item 16: the user's steps in order; PyTorch is installed here, so its set-up
        # is in the Raster menu only, under a name that does not say "Install".
        assert texts == ["Prepare Sentinel-1/2 time series", "Reconstruct cloudy MSI",
                         "Train on local stacks", "Swipe filled / cloudy", "Parcel time series",
                         "Parcel profile", "PyTorch set-up..."]
        assert plugin.toolbar.windowTitle() == "SMTS CloudFill"
        assert plugin.toolbar.actions() == plugin.actions[:6]
        assert "PyTorch 2." in plugin.actions[6].toolTip() and "is installed" in \
            plugin.actions[6].toolTip()
        assert not any(a.toolTip().endswith("Processing") for a in plugin.actions)
        # three steps, three different icons
        keys = [a.icon().pixmap(24, 24).toImage() for a in plugin.actions[:3]]
        assert keys[0] != keys[1] and keys[1] != keys[2] and keys[0] != keys[2]
        swipe = plugin.actions[3]
        assert swipe.isCheckable() and not plugin.actions[1].isCheckable()
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


# ---------------------------------------------------------------- the comparison layer (item 14)
@pytest.fixture
def run_outputs(tmp_path):
    """A filled date (red) of the cloudy input S2_T31UDQ_20190426.tif (blue), and another date
    (green) between them in the layer order, as after a run with two dates ticked."""
    (tmp_path / "inputs").mkdir()
    (tmp_path / "out").mkdir()
    cloudy = flat_layer(tmp_path / "inputs" / "S2_T31UDQ_20190426.tif", BLUE,
                        "S2_T31UDQ_20190426")
    other = flat_layer(tmp_path / "out" / "S2_T31UDQ_20190501_filled.tif", GREEN,
                       "S2_T31UDQ_20190501_filled",
                       {"SMTS_MODEL": "SMTS-ViT", "SMTS_SOURCE": "S2_T31UDQ_20190501.tif"})
    return tmp_path, cloudy, other


@pytest.mark.parametrize("found_by", ["SMTS_SOURCE", "file-name"])
def test_before_side_is_the_cloudy_input_only(shown_canvas, qt_wait, qgis_new_project,
                                              run_outputs, found_by):
    """The right side shows the filled layer's own cloudy input, not the layers drawn below it
    (here another filled date, green), even when the input is not ticked; found by the
    output's SMTS_SOURCE metadata or, without it, by the output's name."""
    tmp_path, cloudy, other = run_outputs
    if found_by == "SMTS_SOURCE":  # a renamed output: only the metadata names the input
        filled = flat_layer(tmp_path / "out" / "my_result.tif", RED, "my result",
                            {"SMTS_MODEL": "SMTS-ViT", "SMTS_SOURCE": "S2_T31UDQ_20190426.tif"})
    else:
        filled = flat_layer(tmp_path / "out" / "S2_T31UDQ_20190426_filled.tif", RED,
                            "S2_T31UDQ_20190426_filled")
    qgis_new_project.addMapLayers([cloudy, other, filled])
    canvas = shown_canvas
    # by metadata: the input is not ticked (not drawn by the canvas) and still compared with
    canvas_layers = [filled, other] if found_by == "SMTS_SOURCE" else [filled, other, cloudy]
    show(canvas, canvas_layers, qt_wait, extent_of=cloudy)
    tool = SwipeMapTool(canvas, filled, synchronous=True)
    canvas.setMapTool(tool)
    tool.set_split(200)
    assert_split(canvas, 200, left=RED, right=BLUE)  # before: GREEN (everything underneath)
    assert tool.item.before_layer() is cloudy
    canvas.unsetMapTool(tool)
    assert [lyr.id() for lyr in canvas.layers()] == [lyr.id() for lyr in canvas_layers]


def test_before_side_without_input_is_the_layer_below_only(shown_canvas, qt_wait,
                                                           qgis_new_project, tmp_path):
    """No cloudy input in the project: the raster just below the "after" layer, alone (where it
    has no pixels the canvas background shows, not the layers further down)."""
    after = flat_layer(tmp_path / "after.tif", RED, "after")
    below = flat_layer(tmp_path / "below.tif", GREEN, "below", columns=30)  # left 3/4 of view
    bottom = flat_layer(tmp_path / "bottom.tif", BLUE, "bottom")
    qgis_new_project.addMapLayers([after, below, bottom])
    canvas = shown_canvas
    show(canvas, [after, below, bottom], qt_wait)
    tool = SwipeMapTool(canvas, after, synchronous=True)
    canvas.setMapTool(tool)
    tool.set_split(100)
    image = grab(canvas)
    assert is_(colour(image, 50), RED)
    assert is_(colour(image, 200), GREEN)
    assert is_(colour(image, 350), WHITE), colour(image, 350)  # before: BLUE (the bottom layer)
    assert tool.item.before_layer() is below
    canvas.unsetMapTool(tool)


# ---------------------------------------------------------------- labels on the canvas (item 14)
def label_boxes(image, split, y_range=range(4, 60)):
    """Columns of dark label-box pixels left and right of the split, on flat red/blue."""
    left, right = [], []
    for y in y_range:
        for x in range(WIDTH):
            r, g, b = colour(image, x, y)
            if max(r, g, b) < 80 and abs(x - split) > 3:  # dark box, not the divider's shadow
                (left if x < split else right).append(x)
    return left, right


def text_pixels(image, xs, y_range=range(4, 60)):
    """Near-white pixels (the label text) in the columns ``xs``."""
    return sum(1 for y in y_range for x in xs
               if min(colour(image, x, y)) > 170)


def test_sides_are_labelled_near_the_divider(shown_canvas, qt_wait, qgis_new_project,
                                             run_outputs):
    tmp_path, cloudy, _other = run_outputs
    filled = flat_layer(tmp_path / "out" / "S2_T31UDQ_20190426_filled.tif", RED,
                        "S2_T31UDQ_20190426_filled",
                        {"SMTS_MODEL": "SMTS-ViT", "SMTS_SOURCE": "S2_T31UDQ_20190426.tif"})
    qgis_new_project.addMapLayers([cloudy, filled])
    canvas = shown_canvas
    show(canvas, [filled, cloudy], qt_wait)
    tool = SwipeMapTool(canvas, filled, synchronous=True)
    canvas.setMapTool(tool)
    for split in (200, 260):
        tool.set_split(split)
        image = grab(canvas)
        left, right = label_boxes(image, split)
        assert left and right, "no label box on the canvas"  # before: none
        # each box ends a few pixels from the divider, on its own side, at the top
        assert split - 16 <= max(left) < split and split < min(right) <= split + 16
        assert min(left) > 5 and max(right) < WIDTH - 5
        assert text_pixels(image, range(min(left), max(left) + 1)) > 20  # white text in it
        assert text_pixels(image, range(min(right), max(right) + 1)) > 20
        assert_split(canvas, split)  # the rest of each side is untouched

    assert tool.item.labels() == ("filled: 2019-04-26", "cloudy input: 2019-04-26")
    # a plain raster over another: their names
    tool.set_after_layer(cloudy)
    tool.set_before_layer(filled)
    assert tool.item.labels() == ("S2_T31UDQ_20190426", "S2_T31UDQ_20190426_filled")
    canvas.unsetMapTool(tool)


def test_label_is_elided_or_left_out_near_the_edge(shown_canvas, qt_wait, layers):
    canvas = shown_canvas
    after, before = layers
    show(canvas, [after, before], qt_wait)
    tool = SwipeMapTool(canvas, after, synchronous=True)
    canvas.setMapTool(tool)
    tool.set_split(6)  # no room left of the divider: no box there, none past the canvas
    left, right = label_boxes(grab(canvas), 6)
    assert not left and right and max(right) < WIDTH - 3
    tool.set_split(WIDTH - 6)
    left, right = label_boxes(grab(canvas), WIDTH - 6)
    assert left and not right and min(left) > 3
    canvas.unsetMapTool(tool)


# ------------------------------------------------- one stretch for both sides (issue 19, item 13)
def sample_pair(tmp_path) -> tuple[str, str, np.ndarray]:
    """The sample's cloudy 2019-04-26 and a filled version of it (its SCL clouds and shadows
    taken from 2019-04-21, as a fill would put land there): (cloudy path, filled path, clear)."""
    (tmp_path / "inputs").mkdir()
    (tmp_path / "out").mkdir()
    cloudy_path = str(tmp_path / "inputs" / os.path.basename(MSI[3]))
    gdal.Translate(cloudy_path, MSI[3])
    cloudy = gdal.Open(cloudy_path).ReadAsArray()
    scl = gdal.Open(SCL[3]).ReadAsArray()
    clouds = np.isin(scl, (3, 8, 9, 10, 11))
    filled = np.where(clouds, gdal.Open(MSI[2]).ReadAsArray(), cloudy)
    filled_path = str(tmp_path / "out" / "my_fill.tif")
    ds = gdal.GetDriverByName("GTiff").CreateCopy(filled_path, gdal.Open(cloudy_path))
    ds.SetMetadata({"SMTS_SOURCE": os.path.basename(cloudy_path)})
    ds.WriteArray(filled)
    ds = None
    return cloudy_path, filled_path, (filled == cloudy).all(axis=0)


def colours_at(image, canvas, path, rows_cols):
    """The image's colours at the centres of raster pixels (row, col) of ``path``."""
    gt = gdal.Open(path).GetGeoTransform()
    m2p = canvas.mapSettings().mapToPixel()
    out = []
    for row, col in rows_cols:
        p = m2p.transform(gt[0] + (col + 0.5) * gt[1], gt[3] + (row + 0.5) * gt[5])
        out.append(colour(image, int(p.x()), int(p.y())))
    return np.array(out)


@pytest.mark.parametrize("style", ["true-colour-both", "default-input", "typed-in"])
def test_both_sides_share_one_stretch_from_the_clear_pixels(shown_canvas, qt_wait,
                                                            qgis_new_project, tmp_path, style):
    """The filled layer in true colour (as it loads); its cloudy input in true colour too (as
    Prepare loads it), or in QGIS's default style (bands 1-2-3, stretched on its clouds), or a
    stretch typed into the filled layer. Both sides are drawn with the filled layer's bands
    and one stretch, from the clear pixels (or the typed one): a clear pixel looks the same on
    both sides. The layers' own styles are left alone."""
    from qgis.core import QgsContrastEnhancement, QgsRasterMinMaxOrigin
    from smts_cloudfill_plugin.qgis_io.raster_styles import set_true_colour
    cloudy_path, filled_path, clear = sample_pair(tmp_path)
    cloudy = QgsRasterLayer(cloudy_path, "cloudy")
    filled = QgsRasterLayer(filled_path, "filled")
    assert set_true_colour(filled)
    if style == "true-colour-both":
        assert set_true_colour(cloudy)
    if style == "typed-in":
        set_true_colour(cloudy)
        r = filled.renderer()
        for ce in (r.redContrastEnhancement(), r.greenContrastEnhancement(),
                   r.blueContrastEnhancement()):
            ce.setMinimumValue(0)
            ce.setMaximumValue(1800)
        origin = r.minMaxOrigin()
        origin.setLimits(QgsRasterMinMaxOrigin.None_)
        r.setMinMaxOrigin(origin)
    own = [(l.renderer().redBand(), l.renderer().redContrastEnhancement().maximumValue())
           for l in (filled, cloudy)]
    qgis_new_project.addMapLayers([cloudy, filled])
    canvas = shown_canvas
    show(canvas, [filled, cloudy], qt_wait)
    tool = SwipeMapTool(canvas, filled, synchronous=True)
    canvas.setMapTool(tool)
    tool.set_split(200)
    item = tool.item
    assert item.before_layer() is cloudy

    shared = item.shared_renderer()
    assert shared is not None and (shared.redBand(), shared.greenBand(), shared.blueBand()) == \
        (3, 2, 1)
    values = gdal.Open(filled_path).ReadAsArray()
    for band, ce in ((3, shared.redContrastEnhancement()), (2, shared.greenContrastEnhancement()),
                     (1, shared.blueContrastEnhancement())):
        if style == "typed-in":
            expected = (0, 1800)
        else:  # QGIS's default cumulative cut, 2-98 %, of the clear pixels only
            expected = np.quantile(values[band - 1][clear], [0.02, 0.98])
        assert ce.minimumValue() == pytest.approx(expected[0], rel=0.02)
        assert ce.maximumValue() == pytest.approx(expected[1], rel=0.02)
        assert ce.contrastEnhancementAlgorithm() == QgsContrastEnhancement.StretchToMinimumMaximum

    clear_px = list(zip(*np.nonzero(clear)))[::7]
    cloudy_px = list(zip(*np.nonzero(~clear)))[::7]
    after_img, before_img = item.image("after"), item.image("before")
    a = colours_at(after_img, canvas, filled_path, clear_px)
    b = colours_at(before_img, canvas, filled_path, clear_px)
    assert np.abs(a - b).max() <= 1, np.abs(a - b).max()  # before: up to 150 levels apart
    assert np.abs(colours_at(after_img, canvas, filled_path, cloudy_px)
                  - colours_at(before_img, canvas, filled_path, cloudy_px)).max() > 50
    assert [(l.renderer().redBand(), l.renderer().redContrastEnhancement().maximumValue())
            for l in (filled, cloudy)] == own
    canvas.unsetMapTool(tool)


def test_any_two_rasters_keep_their_own_styles(shown_canvas, layers, qt_wait):
    """Not a filled layer and its input: nothing is restyled (red stays red, blue blue)."""
    canvas = shown_canvas
    after, before = layers
    show(canvas, [after, before], qt_wait)
    tool = SwipeMapTool(canvas, after, synchronous=True)
    canvas.setMapTool(tool)
    tool.set_split(150)
    assert tool.item.shared_renderer() is None
    assert_split(canvas, 150)
    canvas.unsetMapTool(tool)
