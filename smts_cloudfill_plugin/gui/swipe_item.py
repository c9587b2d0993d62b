"""Before/after swipe on the map canvas.

A canvas item lays an image of the "after" layer (e.g. a filled date) over the canvas, from the
left edge to a vertical split line that the user drags with a map tool. Right of the split it
draws an image of one comparison layer only, the "before":

1. the cloudy input the filled layer was made from, when it is in the project
   (``swipe_source``); drawn even when it is not ticked;
2. else the raster just below the "after" layer in the canvas;
3. else (the "after" layer is not drawn by the canvas and nothing was found) the canvas itself.

Each side is labelled near the divider ("filled: <date>" / "cloudy input: <date>", else the
layer names; ``swipe_painting``). No layer's visibility or style is ever changed. The user
moves the divider with the map tool (``swipe_tool``).

A filled layer and its cloudy input are drawn with one style: the "after" layer's bands and
contrast stretch, its minimum and maximum computed (the way the layer's own stretch is:
cumulative cut, min/max or standard deviations) from the clear pixels only, the pixels equal in
both files (``qgis_io.raster_styles.clear_pixel_renderer``). Each layer's own stretch comes
from its own statistics, and a cloudy date's is set by its clouds: the same clear field would look
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

from qgis.core import (QgsMapLayer, QgsMapRendererParallelJob, QgsMapRendererSequentialJob,
                       QgsMapSettings, QgsProject, QgsRasterLayer, QgsRasterRenderer)
from qgis.gui import QgsMapCanvasItem
from qgis.PyQt import sip
from qgis.PyQt.QtCore import QCoreApplication, QTimer
from qgis.PyQt.QtGui import QColor, QImage

from ..qgis_io.layer_sources import layer_file
from ..qgis_io.raster_styles import clear_pixel_renderer
from .lifetime import alive
from .slot_errors import log_exception
from .swipe_painting import AFTER, BEFORE, SwipePainting
from .swipe_source import find_source_layer, is_source_file, layer_date_text, source_file_name

# Jobs cancelled without waiting stay referenced here until they report "finished";
# dropping the last Python reference to a running job would delete it under its threads.
_RETIRED_JOBS: set = set()


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: Swipe)."""
    return QCoreApplication.translate("Swipe", text)


def _retire(job) -> None:
    """Stop a render job without blocking; keep it referenced until it has finished."""
    if job is None or sip.isdeleted(job):
        return
    if job.isActive():
        _RETIRED_JOBS.add(job)
        job.finished.connect(functools.partial(_RETIRED_JOBS.discard, job))
        job.cancelWithoutBlocking()


class SwipeMapItem(SwipePainting, QgsMapCanvasItem):
    """Draws the "after" layer left of ``split_x`` (canvas pixels), the comparison ("before")
    layer right of it, a thin divider line and a label for each side."""

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
        return self._layer if alive(self._layer) else None

    def set_after_layer(self, layer: QgsMapLayer | None) -> None:
        """The layer revealed left of the split; see the module for the "before"."""
        self._disconnect_layer()
        self._layer = layer if alive(layer) else None
        self._source_name = None
        self._dates = {}
        if self._layer is not None:
            self._layer.repaintRequested.connect(self._request_slot)
            self._layer.willBeDeleted.connect(self._layer_deleted_slot)
            try:
                self._source_name = source_file_name(self._layer)
            except Exception:  # noqa: BLE001
                log_exception("SwipeMapItem.set_after_layer")
        self._images = {}
        self.render()

    def set_before_layer(self, layer: QgsMapLayer | None, render: bool = True) -> None:
        """Compare against ``layer``; None: find it (the cloudy input, else the layer below)."""
        self._chosen_before = layer if alive(layer) else None
        if render:
            self._images = {}
            self.render()

    def before_layer(self) -> QgsMapLayer | None:
        """The layer drawn right of the split (None: the canvas itself)."""
        return self._before if alive(self._before) else None

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
        if alive(self._chosen_before) and self._chosen_before.id() != after.id():
            return self._chosen_before, self._is_source(self._chosen_before)
        source = find_source_layer(after, self._source_name, self._canvas,
                                   after.project() or QgsProject.instance())
        if source is not None:
            return source, True
        canvas_layers = [lyr for lyr in self._canvas.layers() if alive(lyr)]
        ids = [lyr.id() for lyr in canvas_layers]
        if after.id() in ids:
            for layer in canvas_layers[ids.index(after.id()) + 1:]:
                if isinstance(layer, QgsRasterLayer):
                    return layer, False
        return None, False

    def _is_source(self, layer: QgsMapLayer) -> bool:
        return bool(self._source_name) and is_source_file(layer, self._source_name)

    def _date(self, layer: QgsMapLayer) -> str | None:
        if layer.id() not in self._dates:
            self._dates[layer.id()] = layer_date_text(layer)
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
            self._after_label = tr("filled: {name}").format(name=date or after.name())
            short_after = tr("filled")
        else:
            self._after_label = after.name()
        if before is None:
            self._before_label = tr("map below")
        elif self._before_is_source:
            date = self._date(before)
            self._before_label = tr("cloudy input: {name}").format(name=date or before.name())
            short_before = tr("cloudy")
        else:
            self._before_label = before.name()
        self._short_labels = (short_after, short_before)

    def set_split(self, x: float) -> None:
        """Move the divider to canvas pixel column ``x`` (clamped to the canvas)."""
        self.split_x = float(min(max(x, 0.0), float(max(self._canvas.width(), 0))))
        self.update()

    def is_rendering(self) -> bool:
        return any(alive(j) and j.isActive() for j in self._jobs.values())

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
        elif any(alive(lyr) and lyr.id() == layer.id() for lyr in self._canvas.layers()):
            # nothing to compare with: the canvas without the "after" layer
            wanted[BEFORE] = [lyr for lyr in self._canvas.layers()
                              if alive(lyr) and lyr.id() != layer.id()]
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
        self._drop_renders()
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

    # ------------------------------------------------------------------ signals
    def _slot(self, func, *args) -> None:
        try:
            func(*args)
        except Exception:  # noqa: BLE001
            log_exception(f"SwipeMapItem.{getattr(func, '__name__', 'slot')}")

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
        if alive(self._project):
            signals += [self._project.layersAdded, self._project.layersRemoved]
        if alive(self._canvas):
            signals += [self._canvas.mapCanvasRefreshed, self._canvas.extentsChanged,
                        self._canvas.layersChanged]
        for signal in signals:
            try:
                signal.disconnect(self._request_slot)
            except (TypeError, RuntimeError):
                pass

    def _set_before(self, layer: QgsMapLayer | None, is_source: bool) -> None:
        """Follow the comparison layer's repaints (its style); update the labels."""
        old = self._before if alive(self._before) else None
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
        if not alive(self._layer):
            return
        for signal, slot in ((self._layer.repaintRequested, self._request_slot),
                             (self._layer.willBeDeleted, self._layer_deleted_slot)):
            try:
                signal.disconnect(slot)
            except (TypeError, RuntimeError):
                pass

    def _drop_renders(self) -> None:
        """Retire the render jobs and forget their images and the layers' copies."""
        for job in self._jobs.values():
            _retire(job)
        self._jobs = {}
        self._images = {}
        self._copies = {}
        self._shared = None

    def _layer_deleted(self, *_signal_args) -> None:
        self._layer = None
        self._drop_renders()
        self._set_before(None, False)
        self.update()
