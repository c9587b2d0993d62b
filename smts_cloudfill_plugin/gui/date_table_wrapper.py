"""The date table in Processing's dialogs: the MSI parameter shows it, MASKS and SAR show that
they are chosen in it, and the date parameters follow it.

Batch mode, the modeler and qgis_process keep the plain layer-list parameters: the wrapper
falls back to QGIS's own multiple-layer widgets there. Named by its path in the parameters'
metadata (``algorithms/dialog_widgets.py``), imported when a dialog opens.
"""
from __future__ import annotations

from processing.gui.wrappers import DIALOG_STANDARD, MultipleLayerWidgetWrapper
from qgis.core import QgsProcessingContext
from qgis.PyQt.QtCore import QCoreApplication, QTimer
from qgis.PyQt.QtWidgets import QLabel

from ..qgis_io.raster_layers import MSI, SAR
from .date_table import DateTableWidget
from .lifetime import alive

#: Pixels: the dialog the table opens in (the Processing dialog's default is too narrow for
#: the layer names next to the help panel).
DIALOG_SIZE = (1180, 720)


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: DateTable)."""
    return QCoreApplication.translate("DateTable", text)


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
            table.changed.connect(self.push_dates)
            return table
        label = QLabel(tr("Chosen in the date table above."))
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
        self.push_dates()
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
            if alive(self.widget):      # the signal may outlive a closed dialog's table
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
        if not self.standard and alive(self.widget):
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

    def push_dates(self) -> None:
        """Copy the table's dates to the date parameters (skipped for parts already deleted)."""
        if not alive(self.widget):
            return
        context = QgsProcessingContext()
        for name, kind in (("MSI_DATES", MSI), ("SAR_DATES", SAR)):
            w = self.date_wrappers.get(name)
            if alive(w):
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
