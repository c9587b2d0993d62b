"""How the swipe draws: the "after" image left of the divider, the "before" image right of it,
the divider, and a label for each side near it.

Each label sits in a small dark rounded box that stays readable on any imagery.
"""
from __future__ import annotations

from qgis.PyQt.QtCore import QLineF, QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from .slot_errors import log_exception

AFTER, BEFORE = "after", "before"


class SwipePainting:
    """The drawing of :class:`~.swipe_item.SwipeMapItem` (a mixin): it reads the item's rendered
    ``_images``, ``split_x``, labels and canvas."""

    DIVIDER_COLOR = QColor(255, 255, 255, 230)
    DIVIDER_SHADOW = QColor(0, 0, 0, 170)
    LABEL_BOX = QColor(20, 20, 20, 190)
    LABEL_BORDER = QColor(255, 255, 255, 110)
    LABEL_TEXT = QColor(255, 255, 255)
    LABEL_GAP = 8.0  # canvas pixels between the divider and a label, and from the top edge
    LABEL_PAD = (6.0, 3.0)  # inside the box: horizontal, vertical

    # ------------------------------------------------------------------ painting
    def paint(self, painter, *args) -> None:  # noqa: ARG002 (option, widget)
        try:
            self._paint(painter)
        except Exception:  # noqa: BLE001
            log_exception("SwipeMapItem.paint")

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
