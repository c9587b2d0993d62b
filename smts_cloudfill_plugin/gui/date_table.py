"""One table, a row per date, for choosing a stack in the Processing dialogs.

In the standard algorithm dialog, the MSI parameter shows this table (date, Sentinel-2 layer,
cloud mask, cloud %, check; Sentinel-1 rows below) and feeds the MASKS, SAR and date parameters
from it (``date_table_wrapper``).
"""
from __future__ import annotations

import datetime as dt
import os

from osgeo import gdal
from qgis.core import QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import QCoreApplication, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                                 QTableWidgetItem, QVBoxLayout, QWidget)

from ..core.errors import CloudFillError
from ..core.gdal_scope import gdal_exceptions
from ..core.read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING, mask_meaning
from ..core.read.dates import out_of_order, parse_date
from ..qgis_io.layer_sources import layer_file, source_file
from ..qgis_io.raster_layers import MSI, SAR, by_date, layer_date, project_rasters
from ..qgis_io.stack_checks import RowCheck, check_row, reference_layer

KIND, DATE, LAYER, MASK, CLOUD, CHECK = range(6)
HEADERS = ["Kind", "Date", "Layer", "Cloud mask", "Cloud %", "Check"]
#: Pixels: the Check column and the table.
CHECK_WIDTH, MIN_TABLE_WIDTH = 190, 760
#: Largest side of the reduced read behind the cloud % column (masks up to this are read whole).
CLOUD_READ_SIZE = 1024


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: DateTable)."""
    return QCoreApplication.translate("DateTable", text)


def cloud_percent(layer: QgsRasterLayer | None,
                  cloud_buffer: int = DEFAULT_CLOUD_BUFFER) -> float | None:
    """Share of cloudy pixels of a mask layer, read as Reconstruct reads it (its meaning from
    its content, ``clouds.mask_meaning``; None for a mask of no known meaning), from a reduced
    read: SCL clouds and shadows grown by ``cloud_buffer`` px as Reconstruct grows them
    (exactly for masks up to CLOUD_READ_SIZE px a side; on a larger mask's reduced read, by the
    buffer scaled to it)."""
    if layer is None:
        return None
    try:
        with gdal_exceptions():
            ds = gdal.Open(layer_file(layer))
            band = ds.GetRasterBand(1)
            width, height = ds.RasterXSize, ds.RasterYSize
            values = band.ReadAsArray(buf_xsize=min(width, CLOUD_READ_SIZE),
                                      buf_ysize=min(height, CLOUD_READ_SIZE))
            description, nodata = band.GetDescription(), band.GetNoDataValue()
    except (RuntimeError, AttributeError):
        return None
    try:
        meaning = mask_meaning(values, description, nodata)
    except CloudFillError:
        return None
    scale = min(values.shape[1] / width, values.shape[0] / height)
    buffer_px = int(round(cloud_buffer * scale))
    mask = meaning.missing(values, DEFAULT_SCL_MISSING, buffer_px)
    return 100.0 * float(mask.mean())


class DateTableWidget(QWidget):
    """Rows of (kind, date, layer, mask, cloud %, check); Sentinel-2 rows first, by date."""

    changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels([tr(h) for h in HEADERS])
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        # Layer names get the room; a long check message is elided (its tooltip has it all)
        # instead of pushing the Layer, Cloud % and Check columns out of the default dialog.
        for col, mode in ((KIND, QHeaderView.ResizeToContents), (DATE, QHeaderView.ResizeToContents),
                          (LAYER, QHeaderView.Stretch), (MASK, QHeaderView.Stretch),
                          (CLOUD, QHeaderView.ResizeToContents),
                          (CHECK, QHeaderView.Interactive)):
            header.setSectionResizeMode(col, mode)
        header.resizeSection(CHECK, CHECK_WIDTH)
        self.table.setTextElideMode(Qt.ElideRight)
        self.table.setMinimumWidth(MIN_TABLE_WIDTH)
        self.table.setMinimumHeight(400)
        self.table.itemChanged.connect(self._item_changed)
        buttons = QHBoxLayout()
        for text, slot, tip in (
                ("Fill from project", self.fill_from_project,
                 "Put every raster layer of the project in the table, sorted by date"),
                ("Add Sentinel-2 date", lambda: self.add_row(MSI), "Add an empty Sentinel-2 row"),
                ("Add Sentinel-1 date", lambda: self.add_row(SAR), "Add an empty Sentinel-1 row"),
                ("Remove row", self.remove_selected, "Remove the selected rows")):
            b = QPushButton(tr(text))
            b.setToolTip(tr(tip))
            b.clicked.connect(slot)
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.summary = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        self._updating = False
        #: SCL clouds and shadows are grown by this many pixels in the cloud % column.
        self.cloud_buffer = DEFAULT_CLOUD_BUFFER

    def set_cloud_buffer(self, pixels: int) -> None:
        """Follow the algorithm's CLOUD_BUFFER, so the cloud % is what will be filled."""
        if pixels != self.cloud_buffer:
            self.cloud_buffer = pixels
            self.refresh_checks()

    # ----- building rows -------------------------------------------------------------------
    def clear(self) -> None:
        self.table.setRowCount(0)
        self.refresh_checks()

    def add_row(self, kind: str, layer: QgsRasterLayer | None = None,
                mask: QgsRasterLayer | None = None, date: dt.date | None = None) -> int:
        self._updating = True
        row = self.table.rowCount() if kind == SAR else self._first_sar_row()
        self.table.insertRow(row)
        kind_item = QTableWidgetItem(kind)
        kind_item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        kind_item.setToolTip(tr("Sentinel-2 (MSI) date") if kind == MSI
                             else tr("Sentinel-1 (SAR) date"))
        self.table.setItem(row, KIND, kind_item)
        self.table.setItem(row, DATE, QTableWidgetItem(date.isoformat() if date else ""))
        combo = self._combo(allow_empty=False)
        if layer is not None:
            combo.setLayer(layer)
        self.table.setCellWidget(row, LAYER, combo)
        if kind == MSI:
            mcombo = self._combo(allow_empty=True)
            mcombo.setLayer(mask)
            self.table.setCellWidget(row, MASK, mcombo)
        else:
            self.table.setItem(row, MASK, self._readonly(""))
        self.table.setItem(row, CLOUD, self._readonly(""))
        self.table.setItem(row, CHECK, self._readonly(""))
        self._updating = False
        self.refresh_checks()
        return row

    def _combo(self, allow_empty: bool) -> QgsMapLayerComboBox:
        combo = QgsMapLayerComboBox()
        combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
        combo.setAllowEmptyLayer(allow_empty)
        if allow_empty:
            combo.setLayer(None)
        combo.layerChanged.connect(self._layer_changed)
        return combo

    @staticmethod
    def _readonly(text: str) -> QTableWidgetItem:
        item = QTableWidgetItem(text)
        item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable)
        return item

    def _first_sar_row(self) -> int:
        for r in range(self.table.rowCount()):
            if self.table.item(r, KIND).text() == SAR:
                return r
        return self.table.rowCount()

    def fill_from_project(self, project: QgsProject | None = None) -> None:
        """Every raster layer of the project: Sentinel-2 rows with their masks paired by date,
        Sentinel-1 rows below, each sorted by date."""
        project = project or QgsProject.instance()
        msi, sar, masks = [], [], {}
        for kind, date, layer in project_rasters(project):
            if kind == MSI:
                msi.append((date, layer))
            elif kind == SAR:
                sar.append((date, layer))
            elif kind == "mask" and date is not None:
                masks.setdefault(date, layer)
        self.clear()
        for date, layer in by_date(msi):
            self.add_row(MSI, layer, masks.get(date), date)
        for date, layer in by_date(sar):
            self.add_row(SAR, layer, None, date)
        self.refresh_checks()
        self.changed.emit()

    def remove_selected(self) -> None:
        """Remove the selected rows; the date parameters follow (``changed``)."""
        rows = {i.row() for i in self.table.selectedIndexes()}
        if self.table.currentRow() >= 0:
            rows.add(self.table.currentRow())
        for r in sorted(rows, reverse=True):
            self.table.removeRow(r)
        self.refresh_checks()
        self.changed.emit()

    # ----- reading the table ---------------------------------------------------------------
    def rows(self, kind: str) -> list[int]:
        return [r for r in range(self.table.rowCount()) if self.table.item(r, KIND).text() == kind]

    def layer(self, row: int, col: int = LAYER) -> QgsRasterLayer | None:
        w = self.table.cellWidget(row, col)
        return w.currentLayer() if isinstance(w, QgsMapLayerComboBox) else None

    def date(self, row: int) -> dt.date | None:
        item = self.table.item(row, DATE)
        return parse_date(item.text()) if item and item.text().strip() else None

    def msi_layer_ids(self) -> list[str]:
        return [l.id() for r in self.rows(MSI) if (l := self.layer(r))]

    def mask_layer_ids(self) -> list[str]:
        """The masks of the Sentinel-2 rows that have a layer. When only some rows have a mask,
        the count differs from the dates' and the algorithm refuses to run, as it should."""
        return [m.id() for r in self.rows(MSI) if self.layer(r) and (m := self.layer(r, MASK))]

    def sar_layer_ids(self) -> list[str]:
        return [l.id() for r in self.rows(SAR) if (l := self.layer(r))]

    def dates_text(self, kind: str) -> str:
        """Comma-separated dates of the rows that have a layer ('' when any is unknown)."""
        dates = [self.date(r) for r in self.rows(kind) if self.layer(r)]
        return ",".join(d.isoformat() for d in dates) if dates and all(dates) else ""

    def set_msi_layers(self, values: list) -> None:
        """Sentinel-2 rows for layer ids, layers or file paths (a re-run from the Processing
        history gives paths: files not in the project are added to it)."""
        self.clear()
        for layer in resolve_layers(values):
            self.add_row(MSI, layer, None, layer_date(layer))
        self.changed.emit()

    def set_masks(self, values: list) -> None:
        """Put masks (ids, layers or paths) on the Sentinel-2 rows, in order."""
        for row, layer in zip(self.rows(MSI), resolve_layers(values)):
            w = self.table.cellWidget(row, MASK)
            if isinstance(w, QgsMapLayerComboBox):
                w.setLayer(layer)
        self.refresh_checks()
        self.changed.emit()

    def set_sar_layers(self, values: list) -> None:
        """Replace the Sentinel-1 rows by these layers (ids, layers or paths)."""
        for r in reversed(self.rows(SAR)):
            self.table.removeRow(r)
        for layer in resolve_layers(values):
            self.add_row(SAR, layer, None, layer_date(layer))
        self.refresh_checks()
        self.changed.emit()

    # ----- checks --------------------------------------------------------------------------
    def refresh_checks(self) -> list[str]:
        """Recompute cloud % and the check column; return the problems found."""
        if self._updating:
            return []
        self._updating = True
        problems = []
        msi_rows = self.rows(MSI)
        reference = reference_layer([self.layer(r) for r in msi_rows])
        with_mask = [self.layer(r, MASK) is not None for r in msi_rows]
        for r in range(self.table.rowCount()):
            kind = self.table.item(r, KIND).text()
            layer, mask = self.layer(r), self.layer(r, MASK) if kind == MSI else None
            check = check_row(kind, layer, mask, self.date(r), reference)
            if check.ok and kind == MSI and any(with_mask) and mask is None:
                check = RowCheck(False, tr("no mask: give a mask for every date or for none"))
            pct = cloud_percent(mask, self.cloud_buffer) if mask is not None else None
            self.table.item(r, CLOUD).setText("" if pct is None else f"{pct:.0f}")
            item = self.table.item(r, CHECK)
            item.setText(check.message)
            item.setForeground(QColor("#1a7f37") if check.ok else QColor("#c62828"))
            item.setToolTip(check.message)
            if not check.ok:
                problems.append(tr("{kind} row {row}: {message}").format(
                    kind=kind, row=r + 1, message=check.message))
        for _, j in out_of_order([self.date(r) for r in msi_rows]):
            row = msi_rows[j]
            problems.append(tr("S2 row {row}: dates must increase").format(row=row + 1))
            self.table.item(row, CHECK).setText(tr("date not after the row above"))
            self.table.item(row, CHECK).setForeground(QColor("#c62828"))
        n_msi, n_sar = len(self.msi_layer_ids()), len(self.sar_layer_ids())
        summary = tr("{msi} Sentinel-2 dates, {masks} masks, {sar} Sentinel-1 dates").format(
            msi=n_msi, masks=sum(with_mask), sar=n_sar)
        if problems:
            summary += tr(" — {count} problem(s)").format(count=len(problems))
        self.summary.setText(summary)
        self._updating = False
        return problems

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if not self._updating and item.column() == DATE:
            self.refresh_checks()
            self.changed.emit()

    def _layer_changed(self, *_) -> None:
        if not self._updating:
            self.refresh_checks()
            self.changed.emit()


def resolve_layers(values) -> list[QgsRasterLayer]:
    """Raster layers for layer ids, layers or file paths; a path not yet in the project is
    added to it (the table lists project layers only)."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        values = [v for v in str(values).split(";") if v] if isinstance(values, str) else [values]
    project = QgsProject.instance()
    by_source = {layer_file(l): l for l in project.mapLayers().values()
                 if isinstance(l, QgsRasterLayer)}
    out = []
    for v in values:
        layer = v if isinstance(v, QgsRasterLayer) else None
        if layer is None and isinstance(v, str):
            path = source_file(v)
            layer = project.mapLayer(v) or by_source.get(path)
            if layer is None and os.path.exists(path):
                layer = QgsRasterLayer(v, os.path.splitext(os.path.basename(path))[0])
                if layer.isValid():
                    project.addMapLayer(layer)
                    by_source[layer_file(layer)] = layer
                else:
                    layer = None
        if isinstance(layer, QgsRasterLayer):
            out.append(layer)
    return out
