"""The parcel profile: click a parcel on the map, see its season from the Parcel time series table.

Observed dates are filled dots, filled dates hollow dots with their expected error as a bar (the
table's ``<index>_error``), partly filled dates half-filled; the dashed line is what temporal
interpolation between the observed dates would say, for comparison (``profile_chart``). The
curve exports as PNG and CSV. The dock reads the table that ``smts_cloudfill:parcel_series``
wrote (``profile_table``), so a click only filters rows.
"""
from __future__ import annotations

from qgis.core import (QgsCoordinateTransform, QgsFeatureRequest, QgsGeometry,
                       QgsMapLayerProxyModel, QgsPointXY, QgsProject, QgsRectangle,
                       QgsVectorLayer)
from qgis.gui import QgsFieldComboBox, QgsHighlight, QgsMapLayerComboBox, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import QCoreApplication, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (QDockWidget, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                                 QPushButton, QVBoxLayout, QWidget)

from .profile_chart import COLOURS, ProfileChart
from .profile_table import FILLED, PARTLY, Profile, profile_from_table, table_index, \
    write_profile_csv


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: ParcelProfile)."""
    return QCoreApplication.translate("ParcelProfile", text)


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
        super().__init__(tr("Parcel profile"), parent)
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
        form.addRow(tr("Parcels"), self.parcels)
        form.addRow(tr("Parcel id field"), self.id_field)
        form.addRow(tr("Parcel time series table"), self.table)
        layout.addLayout(form)
        self.status = QLabel(tr("Run 'Parcel time series', then pick a parcel on the map."))
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.chart = ProfileChart()
        layout.addWidget(self.chart, 1)
        buttons = QHBoxLayout()
        self.pick = QPushButton(tr("Pick a parcel"))
        self.pick.setCheckable(True)
        self.export_png = QPushButton(tr("Export PNG..."))
        self.export_csv = QPushButton(tr("Export CSV..."))
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
                self.status.setText(tr("Choose the parcels layer first."))
                return
            crs = self.iface.mapCanvas().mapSettings().destinationCrs()
            found = parcel_at(layer, point, crs, self.id_field.currentField() or None)
            if found is None:
                self.status.setText(tr("No parcel there."))
                return
            parcel, geometry = found
            self._highlight(layer, geometry)
            self.show_parcel(parcel)
        except Exception as e:  # noqa: BLE001 (a slot must never raise into Qt)
            self.status.setText(tr("Could not show that parcel: {error}").format(error=e))

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
            self.status.setText(tr("Choose a table made by 'Parcel time series' (or run it "
                                   "first)."))
            return None
        profile = profile_from_table(table, parcel)
        if profile is None:
            self.status.setText(tr("Parcel {parcel} is not in the table '{table}' (a "
                                   "different id field?).").format(parcel=parcel,
                                                                   table=table.name()))
            self.chart.set_profile(None)
            return None
        filled = sum(q.status in (FILLED, PARTLY) for q in profile.points)
        self.status.setText(tr("Parcel {parcel}: {dates} dates, {filled} of them filled in part "
                               "or whole.").format(parcel=parcel, dates=len(profile.points),
                                                   filled=filled))
        self.chart.set_profile(profile)
        return profile

    def _export_png(self) -> None:
        if self.chart.profile is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, tr("Export the profile"), "", "PNG (*.png)")
        if path:
            self.chart.image().save(path if path.lower().endswith(".png") else path + ".png")

    def _export_csv(self) -> None:
        if self.chart.profile is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, tr("Export the profile"), "", "CSV (*.csv)")
        if path:
            write_profile_csv(path if path.lower().endswith(".csv") else path + ".csv",
                              self.chart.profile)
