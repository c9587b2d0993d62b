"""The Sentinel-2 products picker of Prepare's dialog: files and folders, summed up in a line.

QGIS 3.22's own widget for a multiple-file parameter loads each value as a map layer when the
dialog sets it (a preset, a re-run from the history) and drops what does not load: SAFE zips
and folders always. Its picker cannot choose folders either. Named by its path in the
parameter's metadata (``algorithms/dialog_widgets.py``), imported when a dialog opens.
"""
from __future__ import annotations

import os

from processing.gui.wrappers import DIALOG_STANDARD, MultipleLayerWidgetWrapper
from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QMenu, QToolButton, QWidget

from ..core.errors import CloudFillError
from ..core.prepare.products import find_products

#: Where QGIS's own file pickers start.
LAST_DIR_KEY = "/Processing/LastInputPath"


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: ProductFiles)."""
    return QCoreApplication.translate("ProductFiles", text)


class ProductFilesWidget(QWidget):
    """'N products chosen' and a '…' menu: add files, add a folder, remove all."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self.on_change = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = QLineEdit()
        self.summary.setReadOnly(True)
        self.summary.setEnabled(False)  # as QGIS's own multiple-input summaries
        button = QToolButton()
        button.setText("…")
        button.setPopupMode(QToolButton.InstantPopup)
        menu = QMenu(button)
        menu.addAction(tr("Add products (SAFE .zip, MTD_MSIL2A.xml, per-band files)…"),
                       self.add_files)
        menu.addAction(tr("Add a folder (.SAFE, per-band files, or a folder of products)…"),
                       self.add_folder)
        menu.addSeparator()
        menu.addAction(tr("Remove all"), lambda: self.set_paths([]))
        button.setMenu(menu)
        layout.addWidget(self.summary, 1)
        layout.addWidget(button)
        self.set_paths([])

    def set_paths(self, paths: list[str]) -> None:
        self.paths = list(dict.fromkeys(p for p in paths if p))
        try:
            count, products = len(find_products(self.paths)), True
        except (CloudFillError, OSError):  # a missing or unreadable path: the run names it
            count, products = len(self.paths), False
        if not self.paths:
            text = tr("No product chosen")
        elif products:
            text = tr("1 product chosen") if count == 1 else tr("{count} products chosen")
        else:
            text = tr("1 input chosen") if count == 1 else tr("{count} inputs chosen")
        self.summary.setText(text.format(count=count))
        self.setToolTip("\n".join(self.paths))
        if self.on_change:
            self.on_change()

    def _start_dir(self) -> str:
        return str(QgsSettings().value(LAST_DIR_KEY, "") or "")

    def add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, tr("Sentinel-2 products"), self._start_dir(),
            tr("Sentinel-2 products (*.zip *.ZIP *.xml *.jp2 *.tif *.tiff);;All files (*)"))
        if files:
            QgsSettings().setValue(LAST_DIR_KEY, os.path.dirname(files[0]))
            self.set_paths(self.paths + files)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("A .SAFE folder, a per-band "
                                                     "folder or a folder of products"),
                                                  self._start_dir())
        if folder:
            QgsSettings().setValue(LAST_DIR_KEY, os.path.dirname(folder))
            self.set_paths(self.paths + [folder])

class ProductFilesWrapper(MultipleLayerWidgetWrapper):
    """Processing widget wrapper: the products picker in the dialog; QGIS's own widgets in
    the batch and model dialogs."""

    def createWidget(self, **kwargs):  # noqa: N802
        if self.dialogType != DIALOG_STANDARD:
            return super().createWidget()
        widget = ProductFilesWidget()
        widget.on_change = lambda: self.widgetValueHasChanged.emit(self)
        return widget

    def createLabel(self):  # noqa: N802
        label = super().createLabel()
        if label is not None:  # the help as tooltip, as on QGIS's own parameter labels
            label.setToolTip(self.parameterDefinition().toolTip())
        return label

    def setValue(self, value) -> None:  # noqa: N802
        """Values set by the dialog (a preset, a re-run from the history): paths."""
        if self.dialogType != DIALOG_STANDARD:
            return super().setValue(value)
        if value is None or value == "":
            paths = []
        elif isinstance(value, str):
            paths = value.split(";")  # the batch dialog's and qgis_process's 'a;b'
        else:
            paths = [str(v) for v in value]
        self.widget.set_paths([p.strip() for p in paths])

    def value(self):
        if self.dialogType != DIALOG_STANDARD:
            return super().value()
        return list(self.widget.paths)
