"""The QGIS plugin object: registers the Processing provider and the toolbar.

qgis_process calls ``initProcessing`` only; the desktop calls ``initGui``, which calls it too
and hands the algorithms the desktop's parts they use at run time (``desktop_hooks``): the
algorithms cannot import ``gui/``, which builds on them.
"""
from __future__ import annotations

from qgis.core import QgsApplication

from .algorithms.desktop_hooks import DesktopHooks, set_desktop_hooks
from .dependencies import add_dependency_folder


def pinned_dialog(algorithm, parent=None):
    """Our algorithms' dialog (gui/algorithm_dialog.py), imported when the first one opens."""
    from .gui.algorithm_dialog import PinnedAlgorithmDialog
    return PinnedAlgorithmDialog(algorithm, parent=parent)


def desktop_hooks(iface) -> DesktopHooks:
    """What the algorithms use of the desktop of ``iface``: the pinned dialog, and the offer of
    a trained model to Reconstruct (gui/toolbar.py)."""
    def offer_trained_model(model_path: str, parameters: dict) -> None:
        from .gui.toolbar import offer_trained_model as offer
        offer(iface, model_path, parameters)
    return DesktopHooks(algorithm_dialog=pinned_dialog, offer_trained_model=offer_trained_model)


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
        set_desktop_hooks(desktop_hooks(self.iface))
        from .gui.install_dialog import offer_install_if_missing
        from .gui.toolbar import build_toolbar
        build_toolbar(self)
        offer_install_if_missing(self.iface)

    def unload(self) -> None:
        if self.iface is not None:
            set_desktop_hooks(None)
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
