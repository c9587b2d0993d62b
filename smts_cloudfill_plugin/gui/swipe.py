"""Before/after swipe on the map canvas.

A canvas item lays an image of the "after" layer (e.g. a filled date) over the canvas, from the
left edge to a vertical split line that the user drags with a map tool. Right of the split it
draws an image of one comparison layer only, the "before":

1. the cloudy input the filled layer was made from, when it is in the project: found by the
   file name in the output's ``SMTS_SOURCE`` metadata, else by its own file name
   (``<input>_filled.tif`` -> ``<input>.*``); drawn even when it is not ticked;
2. else the raster just below the "after" layer in the canvas;
3. else (the "after" layer is not drawn by the canvas and nothing was found) the canvas itself.

Each side is labelled near the divider ("filled: <date>" / "cloudy input: <date>", else the
layer names) in a small dark rounded box that stays readable on any imagery. No layer's
visibility or style is ever changed.

A filled layer and its cloudy input are drawn with one style: the "after" layer's bands and
contrast stretch, its minimum and maximum computed (the way the layer's own stretch is:
cumulative cut, min/max or standard deviations) from the clear pixels only, the pixels equal in
both files (``qgis_io.raster_styles.clear_pixel_renderer``). Each layer's own stretch comes from its
own statistics, and a cloudy date's is set by its clouds: the same clear field would look
darker on the cloudy side. A stretch the user typed in (user-defined limits) is kept as it is,
for both sides. The swipe draws copies of the two layers (``QgsRasterLayer.clone``) restyled
that way.

Images are rendered in the background (``QgsMapRendererParallelJob``) from a copy of the canvas
map settings and redrawn when the canvas extent changes or the canvas finishes a refresh. The GUI
thread never waits for a render. Every slot catches its own errors: an exception escaping a Qt
slot aborts QGIS.
"""
from __future__ import annotations

import functools
import os
import traceback

from qgis.core import (Qgis, QgsMapLayer, QgsMapRendererParallelJob, QgsMapRendererSequentialJob,
                       QgsMapSettings, QgsMessageLog, QgsProject, QgsRasterLayer,
                       QgsRasterRenderer)
from qgis.gui import QgsMapCanvasItem, QgsMapTool
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QLineF, QPointF, QRectF, Qt, QTimer
from qgis.PyQt.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen

from ..core.write.names import FILLED_SUFFIX
from ..qgis_io.layer_sources import layer_file
from ..qgis_io.raster_layers import file_metadata, layer_date
from ..qgis_io.raster_styles import clear_pixel_renderer
from .lifetime import alive as _alive

LOG_TAG = "SMTS CloudFill"
AFTER, BEFORE = "after", "before"

# Jobs cancelled without waiting stay referenced here until they report "finished";
# dropping the last Python reference to a running job would delete it under its threads.
_RETIRED_JOBS: set = set()


def _log_exception(where: str) -> None:
    """Write the current exception to the QGIS log instead of letting it leave a slot."""
    try:
        QgsMessageLog.logMessage(f"{where}: {traceback.format_exc()}", LOG_TAG, Qgis.Warning)
    except Exception:  # noqa: BLE001 (nothing else may escape a slot)
        pass


def _stem(path: str) -> str:
    return os.path.normcase(os.path.splitext(os.path.basename(path))[0])


def source_file_name(layer: QgsMapLayer) -> str | None:
    """The input file name a filled output was made from: its ``SMTS_SOURCE`` metadata, else
    ``<input>`` from its own name ``<input>_filled.<ext>``; None for any other layer."""
    if not isinstance(layer, QgsRasterLayer):
        return None
    path = layer_file(layer)
    source = file_metadata(path)[0].get("SMTS_SOURCE")
    if source:
        return os.path.basename(source)
    stem = os.path.splitext(os.path.basename(path))[0]
    if stem.endswith(FILLED_SUFFIX) and len(stem) > len(FILLED_SUFFIX):
        return stem[:-len(FILLED_SUFFIX)]  # no extension known: matched on the stem
    return None


def find_source_layer(after: QgsMapLayer, source_name: str | None, canvas=None,
                      project: QgsProject | None = None) -> QgsRasterLayer | None:
    """The project raster whose file is ``source_name`` (the cloudy input of ``after``).

    A name with an extension is matched on the whole file name, one without on the stem. Of
    several matches, one the canvas draws wins, then the project's order.
    """
    if not source_name or after is None:
        return None
    project = project or QgsProject.instance()
    want = os.path.normcase(source_name)
    whole = bool(os.path.splitext(want)[1])
    drawn = {lyr.id() for lyr in canvas.layers()} if _alive(canvas) else set()
    found = []
    for layer in project.mapLayers().values():
        if (not isinstance(layer, QgsRasterLayer) or not _alive(layer)
                or layer.id() == after.id() or not layer.isValid()):
            continue
        path = layer_file(layer)
        name = os.path.normcase(os.path.basename(path)) if whole else _stem(path)
        if name == want:
            found.append(layer)
    found.sort(key=lambda lyr: lyr.id() not in drawn)  # stable: keeps the project's order
    return found[0] if found else None


def _layer_date(layer: QgsMapLayer) -> str | None:
    try:
        found = layer_date(layer)
    except Exception:  # noqa: BLE001 (a label never breaks the swipe)
        return None
    return found.isoformat() if found else None


def _retire(job) -> None:
    """Stop a render job without blocking; keep it referenced until it has finished."""
    if job is None or sip.isdeleted(job):
        return
    if job.isActive():
        _RETIRED_JOBS.add(job)
        job.finished.connect(functools.partial(_RETIRED_JOBS.discard, job))
        job.cancelWithoutBlocking()


class SwipeMapItem(QgsMapCanvasItem):
    """Draws the "after" layer left of ``split_x`` (canvas pixels), the comparison ("before")
    layer right of it, a thin divider line and a label for each side."""

    DIVIDER_COLOR = QColor(255, 255, 255, 230)
    DIVIDER_SHADOW = QColor(0, 0, 0, 170)
    LABEL_BOX = QColor(20, 20, 20, 190)
    LABEL_BORDER = QColor(255, 255, 255, 110)
    LABEL_TEXT = QColor(255, 255, 255)
    LABEL_GAP = 8.0  # canvas pixels between the divider and a label, and from the top edge
    LABEL_PAD = (6.0, 3.0)  # inside the box: horizontal, vertical

    def __init__(self, canvas, after_layer: QgsMapLayer | None = None,
                 synchronous: bool = False) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._synchronous = synchronous  # tests: a sequential job and waitForFinished
        self._layer: QgsMapLayer | None = None
        self._chosen_before: QgsMapLayer | None = None  # set_before_layer: no search
        self._before: QgsMapLayer | None = None  # the comparison layer of the last render
        self._before_is_source = False
        self._source_name: str | None = None  # of the "after" layer (metadata read once)
        self._after_label = ""
        self._before_label = ""
        self._short_labels = ("", "")  # when the full label does not fit beside the divider
        self._dates: dict[str, str | None] = {}  # layer id -> date text, for the labels
        self._images: dict[str, QImage] = {}
        self._jobs: dict = {}
        self._shared: QgsRasterRenderer | None = None  # the one style of both sides, if any
        self._copies: dict[str, QgsRasterLayer] = {}  # layer id -> restyled clone drawn
        self._pending: dict[str, QImage] = {}  # images of the render in progress
        self._connected = False
        self.split_x: float = canvas.width() / 2.0
        self.setZValue(10)  # above the canvas map image, below most tool decorations
        # Coalesce the burst of canvas signals (extent change, then refresh) into one render.
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(functools.partial(self._slot, self.render))
        self._connect_canvas()
        self.set_after_layer(after_layer)

    # ------------------------------------------------------------------ public API
    def after_layer(self) -> QgsMapLayer | None:
        return self._layer if _alive(self._layer) else None

    def set_after_layer(self, layer: QgsMapLayer | None) -> None:
        """The layer revealed left of the split; see the module for the "before"."""
        self._disconnect_layer()
        self._layer = layer if _alive(layer) else None
        self._source_name = None
        self._dates = {}
        if self._layer is not None:
            self._layer.repaintRequested.connect(self._request_slot)
            self._layer.willBeDeleted.connect(self._layer_deleted_slot)
            try:
                self._source_name = source_file_name(self._layer)
            except Exception:  # noqa: BLE001
                _log_exception("SwipeMapItem.set_after_layer")
        self._images = {}
        self.render()

    def set_before_layer(self, layer: QgsMapLayer | None, render: bool = True) -> None:
        """Compare against ``layer``; None: find it (the cloudy input, else the layer below)."""
        self._chosen_before = layer if _alive(layer) else None
        if render:
            self._images = {}
            self.render()

    def before_layer(self) -> QgsMapLayer | None:
        """The layer drawn right of the split (None: the canvas itself)."""
        return self._before if _alive(self._before) else None

    def shared_renderer(self) -> QgsRasterRenderer | None:
        """The renderer both sides were last drawn with (None: each layer's own style)."""
        return self._shared

    def labels(self) -> tuple[str, str]:
        """The texts drawn left ("after") and right ("before") of the divider."""
        return self._after_label, self._before_label

    def comparison_layer(self) -> tuple[QgsMapLayer | None, bool]:
        """The "before" layer for the current canvas, and whether it is the cloudy input."""
        after = self.after_layer()
        if after is None:
            return None, False
        if _alive(self._chosen_before) and self._chosen_before.id() != after.id():
            return self._chosen_before, self._is_source(self._chosen_before)
        source = find_source_layer(after, self._source_name, self._canvas,
                                   after.project() or QgsProject.instance())
        if source is not None:
            return source, True
        canvas_layers = [lyr for lyr in self._canvas.layers() if _alive(lyr)]
        ids = [lyr.id() for lyr in canvas_layers]
        if after.id() in ids:
            for layer in canvas_layers[ids.index(after.id()) + 1:]:
                if isinstance(layer, QgsRasterLayer):
                    return layer, False
        return None, False

    def _is_source(self, layer: QgsMapLayer) -> bool:
        if not self._source_name:
            return False
        want = os.path.normcase(self._source_name)
        path = layer_file(layer)
        if os.path.splitext(want)[1]:
            return os.path.normcase(os.path.basename(path)) == want
        return _stem(path) == want

    def _date(self, layer: QgsMapLayer) -> str | None:
        if layer.id() not in self._dates:
            self._dates[layer.id()] = _layer_date(layer)
        return self._dates[layer.id()]

    def _update_labels(self) -> None:
        after, before = self.after_layer(), self.before_layer()
        if after is None:
            self._after_label = self._before_label = ""
            self._short_labels = ("", "")
            return
        short_after = short_before = ""
        if self._source_name is not None:  # one of our filled outputs
            date = self._date(after)
            self._after_label = f"filled: {date}" if date else f"filled: {after.name()}"
            short_after = "filled"
        else:
            self._after_label = after.name()
        if before is None:
            self._before_label = "map below"
        elif self._before_is_source:
            date = self._date(before)
            self._before_label = f"cloudy input: {date}" if date else \
                f"cloudy input: {before.name()}"
            short_before = "cloudy"
        else:
            self._before_label = before.name()
        self._short_labels = (short_after, short_before)

    def set_split(self, x: float) -> None:
        """Move the divider to canvas pixel column ``x`` (clamped to the canvas)."""
        self.split_x = float(min(max(x, 0.0), float(max(self._canvas.width(), 0))))
        self.update()

    def is_rendering(self) -> bool:
        return any(_alive(j) and j.isActive() for j in self._jobs.values())

    def image(self, kind: str = AFTER) -> QImage:
        return self._images.get(kind, QImage())

    def request_render(self, *_signal_args) -> None:
        """Render soon (after the current burst of signals), never now."""
        if self._synchronous:
            self.render()
        else:
            self._timer.start()

    def render(self) -> None:
        """Start rendering the images for the current canvas view (asynchronously)."""
        for job in self._jobs.values():
            _retire(job)
        self._jobs = {}
        layer = self.after_layer()
        if layer is None:
            self._images = {}
            self._set_before(None, False)
            self.update()
            return
        base = self._canvas.mapSettings()
        if base.outputSize().isEmpty() or not base.hasValidSettings():
            return
        before, is_source = self.comparison_layer()
        self._set_before(before, is_source)
        drawn_after, drawn_before = self._one_style(layer, before if is_source else None)
        wanted = {AFTER: [drawn_after]}
        if before is not None:
            wanted[BEFORE] = [drawn_before or before]
        elif any(_alive(lyr) and lyr.id() == layer.id() for lyr in self._canvas.layers()):
            # nothing to compare with: the canvas without the "after" layer
            wanted[BEFORE] = [lyr for lyr in self._canvas.layers()
                              if _alive(lyr) and lyr.id() != layer.id()]
        self._pending = {}
        job_class = QgsMapRendererSequentialJob if self._synchronous else QgsMapRendererParallelJob
        for kind, layers in wanted.items():
            settings = QgsMapSettings(base)
            settings.setLayers(layers)
            if kind == AFTER:
                settings.setBackgroundColor(QColor(0, 0, 0, 0))
            else:  # covers the canvas image right of the split: use the canvas background
                settings.setBackgroundColor(self._canvas.canvasColor())
            job = job_class(settings)
            job.smts_layers = layers  # a retired job keeps the copies it draws until it ends
            job.finished.connect(functools.partial(self._slot, self._job_finished, kind, job))
            self._jobs[kind] = job
        for kind, job in list(self._jobs.items()):  # all registered first: see _job_finished
            job.start()
            if self._synchronous:
                job.waitForFinished()
                if self._jobs.get(kind) is job:  # in case "finished" was not delivered yet
                    self._job_finished(kind, job)

    def _one_style(self, after: QgsMapLayer, source: QgsMapLayer | None) -> tuple:
        """The layers to draw for ``after`` and its cloudy input ``source``: copies of both with
        one renderer (see the module), else (``after``, None)."""
        self._shared = None
        if not (isinstance(after, QgsRasterLayer) and isinstance(source, QgsRasterLayer)
                and after.renderer() is not None
                and after.bandCount() == source.bandCount()):
            self._copies = {}
            return after, None
        renderer = clear_pixel_renderer(after.renderer(), layer_file(after), layer_file(source))
        copies = {}
        for layer in (after, source):
            copy = self._copies.get(layer.id())
            if copy is None or copy.source() != layer.source():
                copy = layer.clone()
            copy.setRenderer(renderer.clone())
            copies[layer.id()] = copy
        self._copies = copies
        self._shared = renderer
        return copies[after.id()], copies[source.id()]

    def remove(self) -> None:
        """Stop rendering, disconnect and take the item off the canvas."""
        self._timer.stop()
        for job in self._jobs.values():
            _retire(job)
        self._jobs = {}
        self._images = {}
        self._copies = {}
        self._shared = None
        self._disconnect_layer()
        self._layer = None
        self._set_before(None, False)
        self._chosen_before = None
        self._disconnect_canvas()
        scene = self.scene()
        if scene is not None:
            scene.removeItem(self)

    # ------------------------------------------------------------------ rendering
    def _job_finished(self, kind: str, job) -> None:
        if self._jobs.get(kind) is not job or sip.isdeleted(job):
            return  # an older job that was replaced or cancelled
        del self._jobs[kind]
        self._pending[kind] = job.renderedImage()
        if self._jobs:
            return  # show the images of one view together, never a mix of two views
        images, self._pending = self._pending, {}
        self._images = {k: im for k, im in images.items() if not im.isNull()}
        extent = job.mapSettings().visibleExtent()
        if not extent.isEmpty():
            self.setRect(extent)
        self.update()

    # ------------------------------------------------------------------ painting
    def paint(self, painter, *args) -> None:  # noqa: ARG002 (option, widget)
        try:
            self._paint(painter)
        except Exception:  # noqa: BLE001
            _log_exception("SwipeMapItem.paint")

    def _paint(self, painter) -> None:
        after = self._images.get(AFTER)
        if after is None or after.isNull():
            return
        bounds = self.boundingRect()  # (-1, -1, w + 2, h + 2) in item coordinates
        target = QRectF(0.0, 0.0, bounds.width() - 2.0, bounds.height() - 2.0)
        # split_x is in canvas (viewport) pixels; the item may have moved since it was rendered
        split = self.mapFromScene(self._canvas.mapToScene(int(round(self.split_x)), 0)).x()
        painter.save()
        before = self._images.get(BEFORE)
        if before is not None and not before.isNull() and split < target.right():
            painter.setClipRect(QRectF(split, target.top(), target.right() - split,
                                       target.height()))
            painter.drawImage(target, before)
        if split > target.left():
            painter.setClipRect(QRectF(target.left(), target.top(), split - target.left(),
                                       target.height()))
            painter.drawImage(target, after)
        painter.setClipping(False)
        painter.setRenderHint(painter.Antialiasing, False)
        painter.setPen(QPen(self.DIVIDER_SHADOW, 4))
        painter.drawLine(QLineF(QPointF(split, target.top()), QPointF(split, target.bottom())))
        painter.setPen(QPen(self.DIVIDER_COLOR, 2))
        painter.drawLine(QLineF(QPointF(split, target.top()), QPointF(split, target.bottom())))
        top = self.mapFromScene(self._canvas.mapToScene(0, 0)).y() + self.LABEL_GAP
        self._paint_label(painter, (self._after_label, self._short_labels[0]),
                          split - self.LABEL_GAP, top,
                          split - self.LABEL_GAP - target.left() - 4.0, right_aligned=True)
        self._paint_label(painter, (self._before_label, self._short_labels[1]),
                          split + self.LABEL_GAP, top,
                          target.right() - split - self.LABEL_GAP - 4.0, right_aligned=False)
        painter.restore()

    def _paint_label(self, painter, texts: tuple[str, str], x: float, top: float, room: float,
                     right_aligned: bool) -> None:
        """A rounded dark box with white text, its near edge at ``x``, at most ``room`` pixels
        wide: the full text, else the short one ("filled", "cloudy"), else the full text elided;
        nothing when there is no room for a few letters."""
        full, short = texts
        if not full:
            return
        font = QFont(self._canvas.font())
        font.setPixelSize(12)
        font.setBold(True)
        metrics = QFontMetricsF(font)
        pad_x, pad_y = self.LABEL_PAD
        room -= 2 * pad_x
        if room < 4 * metrics.averageCharWidth():
            return
        if metrics.horizontalAdvance(full) <= room:
            text = full
        elif short and metrics.horizontalAdvance(short) <= room:
            text = short
        else:
            text = metrics.elidedText(full, Qt.ElideRight, room)
        width = metrics.horizontalAdvance(text) + 2 * pad_x
        height = metrics.height() + 2 * pad_y
        box = QRectF(x - width if right_aligned else x, top, width, height)
        painter.setRenderHint(QPainter.Antialiasing, True)
        painter.setRenderHint(QPainter.TextAntialiasing, True)
        painter.setPen(QPen(self.LABEL_BORDER, 1))
        painter.setBrush(self.LABEL_BOX)
        painter.drawRoundedRect(box, 4.0, 4.0)
        painter.setFont(font)
        painter.setPen(self.LABEL_TEXT)
        painter.drawText(box, Qt.AlignCenter, text)

    # ------------------------------------------------------------------ signals
    def _slot(self, func, *args) -> None:
        try:
            func(*args)
        except Exception:  # noqa: BLE001
            _log_exception(f"SwipeMapItem.{getattr(func, '__name__', 'slot')}")

    def _connect_canvas(self) -> None:
        self._request_slot = functools.partial(self._slot, self.request_render)
        self._layer_deleted_slot = functools.partial(self._slot, self._layer_deleted)
        self._canvas.mapCanvasRefreshed.connect(self._request_slot)
        self._canvas.extentsChanged.connect(self._request_slot)
        self._canvas.layersChanged.connect(self._request_slot)  # the layer below may change
        self._project = QgsProject.instance()  # the cloudy input may be added or removed
        self._project.layersAdded.connect(self._request_slot)
        self._project.layersRemoved.connect(self._request_slot)
        self._connected = True

    def _disconnect_canvas(self) -> None:
        if not self._connected:
            return
        self._connected = False
        signals = []
        if _alive(self._project):
            signals += [self._project.layersAdded, self._project.layersRemoved]
        if _alive(self._canvas):
            signals += [self._canvas.mapCanvasRefreshed, self._canvas.extentsChanged,
                        self._canvas.layersChanged]
        for signal in signals:
            try:
                signal.disconnect(self._request_slot)
            except (TypeError, RuntimeError):
                pass

    def _set_before(self, layer: QgsMapLayer | None, is_source: bool) -> None:
        """Follow the comparison layer's repaints (its style); update the labels."""
        old = self._before if _alive(self._before) else None
        if (old.id() if old else None) != (layer.id() if layer is not None else None):
            if old is not None:
                try:
                    old.repaintRequested.disconnect(self._request_slot)
                except (TypeError, RuntimeError):
                    pass
            if layer is not None:
                layer.repaintRequested.connect(self._request_slot)
        self._before = layer
        self._before_is_source = bool(is_source and layer is not None)
        self._update_labels()

    def _disconnect_layer(self) -> None:
        if not _alive(self._layer):
            return
        for signal, slot in ((self._layer.repaintRequested, self._request_slot),
                             (self._layer.willBeDeleted, self._layer_deleted_slot)):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass

    def _layer_deleted(self, *_signal_args) -> None:
        self._layer = None
        for job in self._jobs.values():
            _retire(job)
        self._jobs = {}
        self._images = {}
        self._copies = {}
        self._shared = None
        self._set_before(None, False)
        self.update()


class SwipeMapTool(QgsMapTool):
    """Press, drag and release on the canvas to move the split; the "after" layer shows left.

    The "after" layer is the one given (``set_after_layer``) or, by default, the canvas's current
    layer (the layer selected in the layer tree) when it is a raster. The "before" side is the
    layer given to ``set_before_layer`` or, by default, the "after" layer's cloudy input, else
    the raster below it (see the module).
    """

    def __init__(self, canvas, after_layer: QgsMapLayer | None = None,
                 synchronous: bool = False) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._after = after_layer
        self._before: QgsMapLayer | None = None
        self._synchronous = synchronous
        self._dragging = False
        self._split_fraction = 0.5
        self.item: SwipeMapItem | None = None
        self.setCursor(Qt.SplitHCursor)

    # ------------------------------------------------------------------ layers
    def after_layer(self) -> QgsMapLayer | None:
        if _alive(self._after):
            return self._after
        current = self._canvas.currentLayer()
        return current if isinstance(current, QgsRasterLayer) else None

    def set_after_layer(self, layer: QgsMapLayer | None) -> None:
        self._after = layer
        if self.item is not None:
            self.item.set_after_layer(self.after_layer())

    def set_before_layer(self, layer: QgsMapLayer | None) -> None:
        """Compare against ``layer``; None (the default): the cloudy input, else the layer below."""
        self._before = layer
        if self.item is not None:
            self.item.set_before_layer(layer)

    def set_split(self, x: float) -> None:
        width = max(self._canvas.width(), 1)
        self._split_fraction = min(max(x / width, 0.0), 1.0)
        if self.item is not None:
            self.item.set_split(x)

    # ------------------------------------------------------------------ QgsMapTool
    def activate(self) -> None:
        try:
            if self.item is None:
                self.item = SwipeMapItem(self._canvas, None, synchronous=self._synchronous)
            self.item.set_split(self._split_fraction * self._canvas.width())
            self.item.set_before_layer(self._before, render=False)
            self.item.set_after_layer(self.after_layer())
        except Exception:  # noqa: BLE001
            _log_exception("SwipeMapTool.activate")
        super().activate()

    def deactivate(self) -> None:
        try:
            self._dragging = False
            if self.item is not None:
                item, self.item = self.item, None
                item.remove()
        except Exception:  # noqa: BLE001
            _log_exception("SwipeMapTool.deactivate")
        super().deactivate()

    def canvasPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        try:
            if event.button() == Qt.LeftButton:
                self._dragging = True
                self.set_split(event.pos().x())
        except Exception:  # noqa: BLE001
            _log_exception("SwipeMapTool.canvasPressEvent")

    def canvasMoveEvent(self, event) -> None:  # noqa: N802
        try:
            if self._dragging or event.buttons() & Qt.LeftButton:
                self.set_split(event.pos().x())
        except Exception:  # noqa: BLE001
            _log_exception("SwipeMapTool.canvasMoveEvent")

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802
        try:
            if self._dragging:
                self.set_split(event.pos().x())
            self._dragging = False
        except Exception:  # noqa: BLE001
            _log_exception("SwipeMapTool.canvasReleaseEvent")
