"""The parcel profile's chart: a season's curve drawn with QPainter (no plotting library).

Observed dates are filled dots, filled dates hollow dots with their expected error as a bar,
partly filled dates half-filled; the dashed line is temporal interpolation between the
observed dates, for comparison.
"""
from __future__ import annotations

import datetime as dt

from qgis.PyQt.QtCore import QCoreApplication, QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

from .profile_table import FILLED, OBSERVED, PARTLY, Profile

COLOURS = {"line": QColor(40, 110, 40), "interp": QColor(120, 120, 120),
           "bar": QColor(200, 60, 160), "axis": QColor(60, 60, 60)}


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: ParcelProfile)."""
    return QCoreApplication.translate("ParcelProfile", text)


class ProfileChart(QWidget):
    """Draws a :class:`Profile` (QPainter; no plotting library needed)."""

    MARGIN = (58, 16, 20, 44)   # left, top, right, bottom

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.profile: Profile | None = None
        self.setMinimumSize(320, 220)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    def set_profile(self, profile: Profile | None) -> None:
        self.profile = profile
        self.update()

    def _ranges(self) -> tuple[float, float, float, float] | None:
        p = self.profile
        values = [v for q in p.points if q.mean is not None
                  for v in (q.mean - (q.error or 0), q.mean + (q.error or 0))] if p else []
        if not values:
            return None
        lo, hi = min(values), max(values)
        pad = max((hi - lo) * 0.08, 0.02)
        days = [q.date.toordinal() for q in p.points]
        return min(days) - 3, max(days) + 3, lo - pad, hi + pad

    def to_pixel(self, day: dt.date, value: float, size: tuple[int, int]) -> QPointF:
        x0, x1, y0, y1 = self._ranges()
        left, top, right, bottom = self.MARGIN
        w, h = size[0] - left - right, size[1] - top - bottom
        return QPointF(left + (day.toordinal() - x0) / (x1 - x0) * w,
                       top + (1 - (value - y0) / (y1 - y0)) * h)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        try:
            self.draw(painter, (self.width(), self.height()))
        finally:
            painter.end()

    def draw(self, painter: QPainter, size: tuple[int, int]) -> None:
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(QRectF(0, 0, *size), QColor(255, 255, 255))
        p = self.profile
        if p is None or self._ranges() is None:
            painter.setPen(COLOURS["axis"])
            painter.drawText(QRectF(0, 0, *size), Qt.AlignCenter,
                             tr("Click a parcel on the map (the Pick tool) to see its season."))
            return
        left, top, right, bottom = self.MARGIN
        x0, x1, y0, y1 = self._ranges()
        pt = lambda day, v: self.to_pixel(day, v, size)  # noqa: E731
        painter.setPen(QPen(COLOURS["axis"], 1))
        painter.drawLine(QPointF(left, top), QPointF(left, size[1] - bottom))
        painter.drawLine(QPointF(left, size[1] - bottom),
                         QPointF(size[0] - right, size[1] - bottom))
        font = QFont(painter.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        painter.setFont(font)
        for i in range(5):   # value ticks
            v = y0 + (y1 - y0) * i / 4
            y = pt(p.points[0].date, v).y()
            painter.drawLine(QPointF(left - 4, y), QPointF(left, y))
            painter.drawText(QRectF(0, y - 8, left - 6, 16), Qt.AlignRight | Qt.AlignVCenter,
                             f"{v:.2f}")
        label_right = -1e9
        width = painter.fontMetrics().horizontalAdvance("00-00") + 6
        for q in p.points:   # date ticks, a label where it does not overlap the last one
            x = pt(q.date, y0).x()
            painter.drawLine(QPointF(x, size[1] - bottom), QPointF(x, size[1] - bottom + 4))
            if x - width / 2 >= label_right:
                painter.drawText(QRectF(x - width / 2, size[1] - bottom + 5, width, 16),
                                 Qt.AlignCenter, q.date.strftime("%m-%d"))
                label_right = x + width / 2
        painter.drawText(QRectF(left, size[1] - 18, size[0] - left - right, 16), Qt.AlignCenter,
                         tr("parcel {parcel}, {index}, {year}").format(
                             parcel=p.parcel, index=p.index, year=p.points[0].date.year))
        interp = p.interpolation()
        if len(interp) > 1:
            pen = QPen(COLOURS["interp"], 1.5, Qt.DashLine)
            painter.setPen(pen)
            for (da, va), (db, vb) in zip(interp, interp[1:]):
                painter.drawLine(pt(da, va), pt(db, vb))
        known = [q for q in p.points if q.mean is not None]
        painter.setPen(QPen(COLOURS["line"], 1.5))
        for a, b in zip(known, known[1:]):
            painter.drawLine(pt(a.date, a.mean), pt(b.date, b.mean))
        for q in known:
            c = pt(q.date, q.mean)
            if q.status != OBSERVED and q.error:
                painter.setPen(QPen(COLOURS["bar"], 1.5))
                lo, hi = pt(q.date, q.mean - q.error), pt(q.date, q.mean + q.error)
                painter.drawLine(lo, hi)
                painter.drawLine(QPointF(lo.x() - 4, lo.y()), QPointF(lo.x() + 4, lo.y()))
                painter.drawLine(QPointF(hi.x() - 4, hi.y()), QPointF(hi.x() + 4, hi.y()))
            painter.setPen(QPen(COLOURS["line"], 1.5))
            painter.setBrush(COLOURS["line"] if q.status == OBSERVED else QColor(255, 255, 255))
            painter.drawEllipse(c, 4.5, 4.5)
            if q.status == PARTLY:   # half filled: part observed, part filled
                painter.setBrush(COLOURS["line"])
                painter.drawPie(QRectF(c.x() - 4.5, c.y() - 4.5, 9, 9), 90 * 16, 180 * 16)
        painter.setBrush(Qt.NoBrush)
        self._legend(painter, size)

    def _legend(self, painter: QPainter, size: tuple[int, int]) -> None:
        left, top = self.MARGIN[0] + 8, self.MARGIN[1] + 2
        items = [("observed", OBSERVED), ("filled (bar: expected error)", FILLED),
                 ("interpolation", "interp")]
        for i, (text, kind) in enumerate(items):
            y = top + 14 * i + 6
            if kind == "interp":
                painter.setPen(QPen(COLOURS["interp"], 1.5, Qt.DashLine))
                painter.drawLine(QPointF(left - 6, y), QPointF(left + 6, y))
            else:
                painter.setPen(QPen(COLOURS["line"], 1.5))
                painter.setBrush(COLOURS["line"] if kind == OBSERVED else QColor(255, 255, 255))
                painter.drawEllipse(QPointF(left, y), 4, 4)
            painter.setPen(COLOURS["axis"])
            painter.drawText(QPointF(left + 12, y + 4), tr(text))
        painter.setBrush(Qt.NoBrush)

    def image(self, width: int = 800, height: int = 450) -> QImage:
        """The chart drawn on an image of this size (what Export PNG writes)."""
        image = QImage(width, height, QImage.Format_ARGB32)
        painter = QPainter(image)
        try:
            self.draw(painter, (width, height))
        finally:
            painter.end()
        return image
