"""Before/after swipe on the map canvas.

The canvas keeps drawing its own layers: that is the "before" view. A canvas item lays an image
of the "after" layer over it, but only from the left edge to a vertical split line that the user
drags with a map tool. When the "after" layer is itself drawn by the canvas (the filled layer
above its cloudy source, both ticked), the item also draws, right of the split, an image of the
canvas layers without it, so the right side really shows what lies below. No layer's visibility
is ever changed.

Images are rendered in the background (``QgsMapRendererParallelJob``) from a copy of the canvas
map settings and redrawn when the canvas extent changes or the canvas finishes a refresh. The GUI
thread never waits for a render. Every slot catches its own errors: an exception escaping a Qt
slot aborts QGIS.
"""
from __future__ import annotations

import functools
import traceback

from qgis.core import (Qgis, QgsMapLayer, QgsMapRendererParallelJob, QgsMapRendererSequentialJob,
                       QgsMapSettings, QgsMessageLog, QgsRasterLayer)
from qgis.gui import QgsMapCanvasItem, QgsMapTool
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QLineF, QPointF, QRectF, Qt, QTimer
from qgis.PyQt.QtGui import QColor, QImage, QPen

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


def _alive(obj) -> bool:
    return obj is not None and not sip.isdeleted(obj)


def _retire(job) -> None:
    """Stop a render job without blocking; keep it referenced until it has finished."""
    if job is None or sip.isdeleted(job):
        return
    if job.isActive():
        _RETIRED_JOBS.add(job)
        job.finished.connect(functools.partial(_RETIRED_JOBS.discard, job))
        job.cancelWithoutBlocking()


class SwipeMapItem(QgsMapCanvasItem):
    """Draws the "after" layer left of ``split_x`` (canvas pixels) and a thin divider line."""

    DIVIDER_COLOR = QColor(255, 255, 255, 230)
    DIVIDER_SHADOW = QColor(0, 0, 0, 170)

    def __init__(self, canvas, after_layer: QgsMapLayer | None = None,
                 synchronous: bool = False) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._synchronous = synchronous  # tests: a sequential job and waitForFinished
        self._layer: QgsMapLayer | None = None
        self._images: dict[str, QImage] = {}
        self._jobs: dict = {}
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
        """The layer revealed left of the split; the canvas (without it) is the "before"."""
        self._disconnect_layer()
        self._layer = layer if _alive(layer) else None
        if self._layer is not None:
            self._layer.repaintRequested.connect(self._request_slot)
            self._layer.willBeDeleted.connect(self._layer_deleted_slot)
        self._images = {}
        self.render()

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
            self.update()
            return
        base = self._canvas.mapSettings()
        if base.outputSize().isEmpty() or not base.hasValidSettings():
            return
        wanted = {AFTER: [layer]}
        canvas_layers = [lyr for lyr in self._canvas.layers() if _alive(lyr)]
        if any(lyr.id() == layer.id() for lyr in canvas_layers):
            wanted[BEFORE] = [lyr for lyr in canvas_layers if lyr.id() != layer.id()]
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
            job.finished.connect(functools.partial(self._slot, self._job_finished, kind, job))
            self._jobs[kind] = job
        for kind, job in list(self._jobs.items()):  # all registered first: see _job_finished
            job.start()
            if self._synchronous:
                job.waitForFinished()
                if self._jobs.get(kind) is job:  # in case "finished" was not delivered yet
                    self._job_finished(kind, job)

    def remove(self) -> None:
        """Stop rendering, disconnect and take the item off the canvas."""
        self._timer.stop()
        for job in self._jobs.values():
            _retire(job)
        self._jobs = {}
        self._images = {}
        self._disconnect_layer()
        self._layer = None
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
        painter.restore()

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
        self._connected = True

    def _disconnect_canvas(self) -> None:
        if not self._connected:
            return
        self._connected = False
        if not _alive(self._canvas):
            return
        for signal in (self._canvas.mapCanvasRefreshed, self._canvas.extentsChanged):
            try:
                signal.disconnect(self._request_slot)
            except (TypeError, RuntimeError):
                pass

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
        self.update()


class SwipeMapTool(QgsMapTool):
    """Press, drag and release on the canvas to move the split; the "after" layer shows left.

    The "after" layer is the one given (``set_after_layer``) or, by default, the canvas's current
    layer (the layer selected in the layer tree) when it is a raster. The "before" side is the
    canvas itself, minus the "after" layer when the canvas draws it too.
    """

    def __init__(self, canvas, after_layer: QgsMapLayer | None = None,
                 synchronous: bool = False) -> None:
        super().__init__(canvas)
        self._canvas = canvas
        self._after = after_layer
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
