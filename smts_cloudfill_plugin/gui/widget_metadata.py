"""Parameter metadata naming the dialog widgets, without importing Qt or Processing's GUI.

qgis_process builds the algorithms too, but never their widgets: the wrapper class is named by
its dotted path and imported only when a dialog opens. The small products picker lives here too,
built on first use (``__getattr__``), so that importing this module still needs no GUI.
"""
from __future__ import annotations


def date_table_metadata(role: str = "msi") -> dict:
    """Metadata that puts the per-date table (``role='msi'``) or its linked view in the dialog."""
    return {"widget_wrapper": {"class": f"{__package__}.date_table.StackTableWrapper", "role": role}}


def product_files_metadata() -> dict:
    """Metadata that puts the Sentinel-2 products picker (files and folders) in the dialog.

    QGIS 3.22's own widget for a multiple-file parameter loads each value as a map layer when
    the dialog sets it (a preset, a re-run from the history) and drops what does not load: SAFE
    zips and folders always, so it showed '0 inputs selected' and ran without products. Its
    picker cannot choose folders either.
    """
    return {"widget_wrapper": {"class": f"{__name__}.ProductFilesWrapper"}}


def __getattr__(name: str):
    if name == "ProductFilesWrapper":
        globals()[name] = cls = _product_files_wrapper()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _product_files_wrapper() -> type:
    import os

    from processing.gui.wrappers import DIALOG_STANDARD, MultipleLayerWidgetWrapper
    from qgis.core import QgsSettings
    from qgis.PyQt.QtWidgets import (QFileDialog, QHBoxLayout, QLineEdit, QMenu, QToolButton,
                                     QWidget)

    from ..core.errors import CloudFillError
    from ..core.prepare.products import find_products

    last_dir_key = "/Processing/LastInputPath"  # where QGIS's own file pickers start

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
            menu.addAction("Add products (SAFE .zip, MTD_MSIL2A.xml, per-band files)…",
                           self.add_files)
            menu.addAction("Add a folder (.SAFE, per-band files, or a folder of products)…",
                           self.add_folder)
            menu.addSeparator()
            menu.addAction("Remove all", lambda: self.set_paths([]))
            button.setMenu(menu)
            layout.addWidget(self.summary, 1)
            layout.addWidget(button)
            self.set_paths([])

        def set_paths(self, paths: list[str]) -> None:
            self.paths = list(dict.fromkeys(p for p in paths if p))
            try:
                count, what = len(find_products(self.paths)), "product"
            except (CloudFillError, OSError):  # a missing or unreadable path: the run names it
                count, what = len(self.paths), "input"
            self.summary.setText("No product chosen" if not self.paths else
                                 f"{count} {what}{'s' if count != 1 else ''} chosen")
            self.setToolTip("\n".join(self.paths))
            if self.on_change:
                self.on_change()

        def _start_dir(self) -> str:
            return str(QgsSettings().value(last_dir_key, "") or "")

        def add_files(self) -> None:
            files, _ = QFileDialog.getOpenFileNames(
                self, "Sentinel-2 products", self._start_dir(),
                "Sentinel-2 products (*.zip *.ZIP *.xml *.jp2 *.tif *.tiff);;All files (*)")
            if files:
                QgsSettings().setValue(last_dir_key, os.path.dirname(files[0]))
                self.set_paths(self.paths + files)

        def add_folder(self) -> None:
            folder = QFileDialog.getExistingDirectory(self, "A .SAFE folder, a per-band "
                                                      "folder or a folder of products",
                                                      self._start_dir())
            if folder:
                QgsSettings().setValue(last_dir_key, os.path.dirname(folder))
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

    return ProductFilesWrapper
