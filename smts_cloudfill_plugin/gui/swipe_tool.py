"""The swipe's map tool: press, drag and release on the canvas to move the divider."""
from __future__ import annotations

from qgis.core import QgsMapLayer, QgsRasterLayer
from qgis.gui import QgsMapTool
from qgis.PyQt.QtCore import Qt

from .lifetime import alive
from .slot_errors import log_exception
from .swipe_item import SwipeMapItem


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
        if alive(self._after):
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
            log_exception("SwipeMapTool.activate")
        super().activate()

    def deactivate(self) -> None:
        try:
            self._dragging = False
            if self.item is not None:
                item, self.item = self.item, None
                item.remove()
        except Exception:  # noqa: BLE001
            log_exception("SwipeMapTool.deactivate")
        super().deactivate()

    def canvasPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        try:
            if event.button() == Qt.LeftButton:
                self._dragging = True
                self.set_split(event.pos().x())
        except Exception:  # noqa: BLE001
            log_exception("SwipeMapTool.canvasPressEvent")

    def canvasMoveEvent(self, event) -> None:  # noqa: N802
        try:
            if self._dragging or event.buttons() & Qt.LeftButton:
                self.set_split(event.pos().x())
        except Exception:  # noqa: BLE001
            log_exception("SwipeMapTool.canvasMoveEvent")

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802
        try:
            if self._dragging:
                self.set_split(event.pos().x())
            self._dragging = False
        except Exception:  # noqa: BLE001
            log_exception("SwipeMapTool.canvasReleaseEvent")
