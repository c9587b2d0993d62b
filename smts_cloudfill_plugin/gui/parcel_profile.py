"""The parcel profile: click a parcel on the map, see its season from the Parcel time series table.

Observed dates are filled dots, filled dates hollow dots with their expected error as a bar (the
table's ``<index>_error``), partly filled dates half-filled; the dashed line is what temporal
interpolation between the observed dates would say, for comparison. The curve exports as PNG
and CSV. The dock reads the table that ``smts_cloudfill:parcel_series`` wrote (any layer with
``parcel``, ``date``, ``<index>_mean`` and ``status`` fields), so a click only filters rows.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass

from qgis.core import (QgsCoordinateTransform, QgsFeatureRequest, QgsGeometry,
                       QgsMapLayerProxyModel, QgsPointXY, QgsProject, QgsRectangle,
                       QgsVectorLayer)
from qgis.gui import QgsFieldComboBox, QgsHighlight, QgsMapLayerComboBox, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import QPointF, QRectF, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter, QPen
from qgis.PyQt.QtWidgets import (QDockWidget, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                                 QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from ..core.read.dates import parse_date

OBSERVED, PARTLY, FILLED, NO_DATA = "observed", "partly filled", "filled", "no data"
COLOURS = {"line": QColor(40, 110, 40), "interp": QColor(120, 120, 120),
           "bar": QColor(200, 60, 160), "axis": QColor(60, 60, 60)}


@dataclass
class ProfilePoint:
    date: dt.date
    mean: float | None
    status: str
    filled_share: float
    error: float | None   # in index units (the table's <index>_error)


@dataclass
class Profile:
    parcel: object
    index: str
    points: list[ProfilePoint]

    def interpolation(self) -> list[tuple[dt.date, float]]:
        """Temporal interpolation between the observed dates, at every date between the first
        and last observed one (what a user would have without the fill)."""
        seen = [(p.date.toordinal(), p.mean) for p in self.points
                if p.status == OBSERVED and p.mean is not None]
        if len(seen) < 2:
            return []
        out = []
        for p in self.points:
            x = p.date.toordinal()
            if seen[0][0] <= x <= seen[-1][0]:
                j = next(i for i in range(1, len(seen)) if seen[i][0] >= x)
                (x0, y0), (x1, y1) = seen[j - 1], seen[j]
                out.append((p.date, y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)))
        return out


def table_index(layer: QgsVectorLayer) -> str | None:
    """The index a Parcel time series table holds (its ``<index>_mean`` field), or None when the
    layer is not such a table."""
    names = [f.name() for f in layer.fields()]
    if not {"parcel", "date", "status"} <= set(names):
        return None
    means = [n[:-len("_mean")] for n in names if n.endswith("_mean")]
    return means[0] if means else None


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if v != v else v


def profile_from_table(layer: QgsVectorLayer, parcel) -> Profile | None:
    """The rows of one parcel, in date order; None when the table has none."""
    index = table_index(layer)
    if index is None:
        return None
    field = layer.fields().field("parcel")
    literal = str(parcel).replace("'", "''")
    value = literal if field.isNumeric() else f"'{literal}'"
    points = []
    for f in layer.getFeatures(QgsFeatureRequest().setFilterExpression(f'"parcel" = {value}')):
        day = parse_date(str(f["date"]))
        if day is None:
            continue
        error_field = f"{index}_error"
        points.append(ProfilePoint(day, _number(f[f"{index}_mean"]), str(f["status"]),
                                   _number(f["filled_share"]) or 0.0,
                                   _number(f[error_field]) if error_field in layer.fields().names()
                                   else None))
    if not points:
        return None
    return Profile(parcel, index, sorted(points, key=lambda p: p.date))


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
                             "Click a parcel on the map (the Pick tool) to see its season.")
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
                         f"parcel {p.parcel}, {p.index}, {p.points[0].date.year}")
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
            painter.drawText(QPointF(left + 12, y + 4), text)
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


def write_profile_csv(path: str, profile: Profile) -> None:
    """The curve as a CSV: date, the index's mean, status, filled share, expected error and the
    interpolation's value."""
    interp = dict(profile.interpolation())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["parcel", "date", f"{profile.index}_mean", "status", "filled_share",
                    f"{profile.index}_error", "interpolation"])
        for q in profile.points:
            w.writerow([profile.parcel, q.date.isoformat(), "" if q.mean is None else q.mean,
                        q.status, q.filled_share, "" if q.error is None else q.error,
                        interp.get(q.date, "")])


class ParcelPickTool(QgsMapToolEmitPoint):
    """A click on the map: the point, in the canvas CRS, goes to :attr:`picked`."""

    picked = pyqtSignal(QgsPointXY)

    def __init__(self, canvas) -> None:
        super().__init__(canvas)
        self.canvasClicked.connect(lambda point, _button: self.picked.emit(point))


def parcel_at(layer: QgsVectorLayer, point: QgsPointXY, point_crs, id_field: str | None):
    """The id (the field's value, or the feature id) and geometry of the parcel of ``layer``
    under a point given in ``point_crs``; None when there is none."""
    to_layer = QgsCoordinateTransform(point_crs, layer.crs(), QgsProject.instance())
    p = to_layer.transform(point)
    tiny = QgsRectangle(p.x() - 1e-9, p.y() - 1e-9, p.x() + 1e-9, p.y() + 1e-9)
    here = QgsGeometry.fromPointXY(p)
    for f in layer.getFeatures(QgsFeatureRequest().setFilterRect(tiny)):
        if f.hasGeometry() and f.geometry().contains(here):
            return (f[id_field] if id_field else f.id()), f.geometry()
    return None


class ParcelProfileDock(QDockWidget):
    """Parcels layer and its id field, the Parcel time series table, the chart and exports."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__("Parcel profile", parent)
        self.setObjectName("SmtsCloudFillParcelProfile")
        self.iface = iface
        body = QWidget()
        layout = QVBoxLayout(body)
        form = QFormLayout()
        self.parcels = QgsMapLayerComboBox()
        self.parcels.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.id_field = QgsFieldComboBox()
        self.id_field.setAllowEmptyFieldName(True)
        self.table = QgsMapLayerComboBox()
        self.table.setFilters(QgsMapLayerProxyModel.NoGeometry)
        form.addRow("Parcels", self.parcels)
        form.addRow("Parcel id field", self.id_field)
        form.addRow("Parcel time series table", self.table)
        layout.addLayout(form)
        self.status = QLabel("Run 'Parcel time series', then pick a parcel on the map.")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.chart = ProfileChart()
        layout.addWidget(self.chart, 1)
        buttons = QHBoxLayout()
        self.pick = QPushButton("Pick a parcel")
        self.pick.setCheckable(True)
        self.export_png = QPushButton("Export PNG...")
        self.export_csv = QPushButton("Export CSV...")
        for b in (self.pick, self.export_png, self.export_csv):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.setWidget(body)
        self.tool = ParcelPickTool(iface.mapCanvas())
        self.tool.picked.connect(self.show_point)
        self.pick.toggled.connect(self._toggle_pick)
        self.tool.deactivated.connect(lambda: self.pick.setChecked(False))
        self.parcels.layerChanged.connect(self._parcels_changed)
        self.export_png.clicked.connect(self._export_png)
        self.export_csv.clicked.connect(self._export_csv)
        self._parcels_changed(self.parcels.currentLayer())
        self._pick_table()
        # A table made after the dock opened (Parcel time series run from it) is taken at once.
        QgsProject.instance().layersAdded.connect(self._new_layers)

    def _new_layers(self, layers) -> None:
        try:
            tables = [l for l in layers if isinstance(l, QgsVectorLayer) and table_index(l)]
            if tables:
                self.table.setLayer(tables[-1])
        except RuntimeError:   # the dock was deleted: Qt's side is gone
            pass

    def _parcels_changed(self, layer) -> None:
        self.id_field.setLayer(layer)
        table = self.table.currentLayer()
        if layer is not None and table is not None and table_index(table):
            # The table's parcel ids are text when the id field is: pick the same kind of field.
            names = [f.name() for f in layer.fields() if not f.isNumeric()]
            if not table.fields().field("parcel").isNumeric() and names:
                self.id_field.setField(names[0])

    def _pick_table(self) -> None:
        """Prefer the newest Parcel time series table of the project."""
        layers = [l for l in QgsProject.instance().mapLayers().values()
                  if isinstance(l, QgsVectorLayer) and table_index(l)]
        if layers:
            self.table.setLayer(layers[-1])

    def _toggle_pick(self, on: bool) -> None:
        canvas = self.iface.mapCanvas()
        if on:
            canvas.setMapTool(self.tool)
        elif canvas.mapTool() is self.tool:
            canvas.unsetMapTool(self.tool)

    def show_point(self, point: QgsPointXY) -> None:
        """The parcel under a map click (canvas CRS), if any, is shown."""
        try:
            layer = self.parcels.currentLayer()
            if layer is None:
                self.status.setText("Choose the parcels layer first.")
                return
            crs = self.iface.mapCanvas().mapSettings().destinationCrs()
            found = parcel_at(layer, point, crs, self.id_field.currentField() or None)
            if found is None:
                self.status.setText("No parcel there.")
                return
            parcel, geometry = found
            self._highlight(layer, geometry)
            self.show_parcel(parcel)
        except Exception as e:  # noqa: BLE001 (a slot must never raise into Qt)
            self.status.setText(f"Could not show that parcel: {e}")

    def _highlight(self, layer: QgsVectorLayer, geometry: QgsGeometry) -> None:
        """Outline the picked parcel on the map (the last one only)."""
        self.clear_highlight()
        self.highlight = QgsHighlight(self.iface.mapCanvas(), geometry, layer)
        self.highlight.setColor(COLOURS["bar"])
        self.highlight.setWidth(3)
        self.highlight.setFillColor(QColor(0, 0, 0, 0))
        self.highlight.show()

    def shut_down(self) -> None:
        """Before the dock goes (the plugin unloads): no outline left, no signal to it."""
        self.clear_highlight()
        try:
            QgsProject.instance().layersAdded.disconnect(self._new_layers)
        except (TypeError, RuntimeError):
            pass

    def clear_highlight(self) -> None:
        if getattr(self, "highlight", None) is not None:
            self.highlight.hide()
            self.iface.mapCanvas().scene().removeItem(self.highlight)
            self.highlight = None

    def show_parcel(self, parcel) -> Profile | None:
        table = self.table.currentLayer()
        if table is None or not table_index(table):
            self.status.setText("Choose a table made by 'Parcel time series' (or run it first).")
            return None
        profile = profile_from_table(table, parcel)
        if profile is None:
            self.status.setText(f"Parcel {parcel} is not in the table '{table.name()}' (a "
                                "different id field?).")
            self.chart.set_profile(None)
            return None
        filled = sum(q.status in (FILLED, PARTLY) for q in profile.points)
        self.status.setText(f"Parcel {parcel}: {len(profile.points)} dates, {filled} of them "
                            f"filled in part or whole.")
        self.chart.set_profile(profile)
        return profile

    def _export_png(self) -> None:
        if self.chart.profile is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the profile", "", "PNG (*.png)")
        if path:
            self.chart.image().save(path if path.lower().endswith(".png") else path + ".png")

    def _export_csv(self) -> None:
        if self.chart.profile is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the profile", "", "CSV (*.csv)")
        if path:
            write_profile_csv(path if path.lower().endswith(".csv") else path + ".csv",
                              self.chart.profile)
