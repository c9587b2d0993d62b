"""The QGIS plugin object: registers the Processing provider and the toolbar.

qgis_process calls ``initProcessing`` only; the desktop calls ``initGui``, which calls it too.
"""
from __future__ import annotations

from qgis.core import QgsApplication

from .dependencies import add_dependency_folder


class SmtsCloudFillPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.toolbar = None
        self.actions: list = []
        self.swipe_tool = None
        self.profile_dock = None
        add_dependency_folder()

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        if self.provider is None:
            from .algorithms.provider import SmtsProvider
            self.provider = SmtsProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802
        self.initProcessing()
        if self.iface is None:
            return
        from .gui.install_dialog import offer_install_if_missing
        from .gui.toolbar import build_toolbar
        build_toolbar(self)
        offer_install_if_missing(self.iface)

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.iface is not None and self.toolbar is not None:
            from .gui.toolbar import unload_toolbar
            unload_toolbar(self)
        for action in self.actions:
            if self.iface is not None:
                self.iface.removePluginRasterMenu("SMTS CloudFill", action)
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.toolbar = None
