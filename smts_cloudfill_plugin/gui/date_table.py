"""One table, a row per date, for choosing a stack in the Processing dialogs.

In the standard algorithm dialog, the MSI parameter shows this table (date, Sentinel-2 layer,
cloud mask, cloud %, check; Sentinel-1 rows below) and feeds the MASKS, SAR and date parameters
from it. Batch mode, the modeler and qgis_process keep the plain layer-list parameters: the
wrappers fall back to QGIS's own multiple-layer widgets there.
"""
from __future__ import annotations

import datetime as dt
import os

from osgeo import gdal
from processing.gui.wrappers import DIALOG_STANDARD, MultipleLayerWidgetWrapper
from qgis.core import QgsMapLayerProxyModel, QgsProcessingContext, QgsProject, QgsRasterLayer
from qgis.gui import QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, QTimer, pyqtSignal
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
from .lifetime import alive as _alive

KIND, DATE, LAYER, MASK, CLOUD, CHECK = range(6)
HEADERS = ["Kind", "Date", "Layer", "Cloud mask", "Cloud %", "Check"]
#: Pixels: the Check column, the table, and the dialog the table opens in (the Processing
#: dialog's default is too narrow for the layer names next to the help panel).
CHECK_WIDTH, MIN_TABLE_WIDTH, DIALOG_SIZE = 190, 760, (1180, 720)
#: Largest side of the reduced read behind the cloud % column (masks up to this are read whole).
CLOUD_READ_SIZE = 1024


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
        self.table.setHorizontalHeaderLabels(HEADERS)
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
            b = QPushButton(text)
            b.setToolTip(tip)
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
        kind_item.setToolTip("Sentinel-2 (MSI) date" if kind == MSI else "Sentinel-1 (SAR) date")
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
                check = RowCheck(False, "no mask: give a mask for every date or for none")
            pct = cloud_percent(mask, self.cloud_buffer) if mask is not None else None
            self.table.item(r, CLOUD).setText("" if pct is None else f"{pct:.0f}")
            item = self.table.item(r, CHECK)
            item.setText(check.message)
            item.setForeground(QColor("#1a7f37") if check.ok else QColor("#c62828"))
            item.setToolTip(check.message)
            if not check.ok:
                problems.append(f"{kind} row {r + 1}: {check.message}")
        for _, j in out_of_order([self.date(r) for r in msi_rows]):
            row = msi_rows[j]
            problems.append(f"S2 row {row + 1}: dates must increase")
            self.table.item(row, CHECK).setText("date not after the row above")
            self.table.item(row, CHECK).setForeground(QColor("#c62828"))
        n_msi, n_sar = len(self.msi_layer_ids()), len(self.sar_layer_ids())
        self.summary.setText(f"{n_msi} Sentinel-2 dates, {sum(with_mask)} masks, {n_sar} Sentinel-1 "
                             f"dates" + (f" — {len(problems)} problem(s)" if problems else ""))
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


class StackTableWrapper(MultipleLayerWidgetWrapper):
    """Processing widget wrapper: the table for MSI; linked read-only views for MASKS and SAR.

    Metadata ``{'widget_wrapper': {'class': ..., 'role': 'msi' | 'masks' | 'sar'}}``.
    """

    def __init__(self, param, dialog, row=0, col=0, role: str = "msi", **kwargs) -> None:
        self.role = role
        self.source: StackTableWrapper | None = None
        self.date_wrappers: dict[str, object] = {}
        super().__init__(param, dialog, row, col, **kwargs)

    @property
    def standard(self) -> bool:
        return self.dialogType == DIALOG_STANDARD

    def createWidget(self):  # noqa: N802
        if not self.standard:
            return super().createWidget()
        if self.role == "msi":
            table = DateTableWidget()
            table.fill_from_project()
            table.changed.connect(self._push_dates)
            return table
        label = QLabel("Chosen in the date table above.")
        label.setStyleSheet("color: palette(mid);")
        return label

    def postInitialize(self, wrappers) -> None:  # noqa: N802
        if not (self.standard and self.role == "msi"):
            return
        for w in wrappers:
            name = w.parameterDefinition().name()
            if isinstance(w, StackTableWrapper) and w.role != "msi":
                w.source = self
            elif name in ("MSI_DATES", "SAR_DATES"):
                self.date_wrappers[name] = w
            elif name == "CLOUD_BUFFER":
                self._follow_cloud_buffer(w)
        self._push_dates()
        self._widen_dialog()
        QTimer.singleShot(0, self._widen_dialog)  # after the dialog restored its own geometry

    def _follow_cloud_buffer(self, wrapper) -> None:
        """The cloud % column grows SCL clouds by the dialog's CLOUD_BUFFER, now and on
        every change of it."""
        def update(*_) -> None:
            try:
                value = int(float(wrapper.parameterValue()))
            except (TypeError, ValueError, RuntimeError):
                return
            if _alive(self.widget):      # the signal may outlive a closed dialog's table
                self.widget.set_cloud_buffer(max(value, 0))
        update()
        signal = getattr(wrapper, "widgetValueHasChanged", None)
        if signal is not None:
            signal.connect(update)

    def refresh(self) -> None:
        """Processing's panel calls this on every layer added to or removed from the project.

        The inherited refresh calls ``self.widget.updateForOptions``, which our table and
        labels lack: an AttributeError, which QGIS ignores, while the widget lives, but a
        RuntimeError ("wrapped C/C++ object ... has been deleted"), which it does not, once the
        closed dialog has deleted it. The table's layer boxes follow the project themselves.
        """
        if not self.standard and _alive(self.widget):
            super().refresh()

    def _widen_dialog(self) -> None:
        """At least DIALOG_SIZE, so the default dialog shows the names and the Check column."""
        try:
            window = self.widget.window()
            if window is not None and window is not self.widget:
                window.resize(max(window.width(), DIALOG_SIZE[0]),
                              max(window.height(), DIALOG_SIZE[1]))
        except RuntimeError:  # the dialog was closed before the timer fired
            pass

    def _push_dates(self) -> None:
        """Copy the table's dates to the date parameters (skipped for parts already deleted)."""
        if not _alive(self.widget):
            return
        context = QgsProcessingContext()
        for name, kind in (("MSI_DATES", MSI), ("SAR_DATES", SAR)):
            w = self.date_wrappers.get(name)
            if _alive(w):
                w.setParameterValue(self.widget.dates_text(kind), context)

    def setValue(self, value) -> None:  # noqa: N802
        """Values set by the dialog (defaults, a re-run from the history): layer ids or paths."""
        if not self.standard:
            return super().setValue(value)
        if self.role == "msi":
            if value:
                self.widget.set_msi_layers(value if isinstance(value, list) else [value])
        elif self.source is not None and value:
            table = self.source.widget
            (table.set_masks if self.role == "masks" else table.set_sar_layers)(
                value if isinstance(value, list) else [value])

    def value(self):
        if not self.standard:
            return super().value()
        if self.role == "msi":
            return self.widget.msi_layer_ids()
        if self.source is None:
            return []
        table = self.source.widget
        return table.mask_layer_ids() if self.role == "masks" else table.sar_layer_ids()
