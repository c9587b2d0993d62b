"""The "SMTS CloudFill" toolbar and Raster menu entries (built by the plugin's ``initGui``).

Actions: open the Reconstruct algorithm dialog, swipe the active (filled) raster over the
canvas (its cloudy source), and install PyTorch. ``plugin.unload`` removes the menu entries
and deletes the toolbar.
"""
from __future__ import annotations

import functools

from qgis.core import Qgis, QgsApplication, QgsRasterLayer
from qgis.PyQt.QtCore import QPointF, Qt
from qgis.PyQt.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF
from qgis.PyQt.QtWidgets import QAction

from ..paths import ICON_PATH
from .swipe import SwipeMapTool, _log_exception

MENU = "SMTS CloudFill"
TOOLBAR = "SMTS CloudFill"
ALGORITHM_ID = "smts_cloudfill:reconstruct"
SWIPE_TIP = ("Drag on the map to compare: the selected raster, e.g. the filled result, shows left "
             "of the divider, its cloudy input, else the raster below it, on the right")


def _plugin_icon() -> QIcon:
    return QIcon(ICON_PATH)


def swipe_icon(size: int = 32) -> QIcon:
    """A small drawn icon: a cloudy grey half, a green (filled) half and a split handle."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    p = QPainter(pixmap)
    try:
        p.setRenderHint(QPainter.Antialiasing)
        m = size // 8
        half = size // 2
        p.fillRect(m, m, half - m, size - 2 * m, QColor(70, 150, 70))
        p.fillRect(half, m, half - m, size - 2 * m, QColor(190, 190, 200))
        p.setPen(QPen(QColor(30, 30, 30), max(1, size // 16)))
        p.drawRect(m, m, size - 2 * m, size - 2 * m)
        p.setPen(QPen(QColor(255, 255, 255), max(2, size // 12)))
        p.drawLine(half, 1, half, size - 1)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor(30, 30, 30))
        s = size / 8.0
        c = size / 2.0
        p.drawPolygon(QPolygonF([QPointF(c - s / 2, c - s), QPointF(c - s / 2 - s, c),
                                 QPointF(c - s / 2, c + s)]))
        p.drawPolygon(QPolygonF([QPointF(c + s / 2, c - s), QPointF(c + s / 2 + s, c),
                                 QPointF(c + s / 2, c + s)]))
    finally:
        p.end()
    return QIcon(pixmap)


def _message(plugin, text: str, level=Qgis.Info, duration: int = 6) -> None:
    try:
        plugin.iface.messageBar().pushMessage(MENU, text, level=level, duration=duration)
    except Exception:  # noqa: BLE001 (a message must never break a slot)
        _log_exception("toolbar message")


def _guarded(name: str):
    """Decorate a slot so that no exception leaves it (one would abort QGIS)."""
    def wrap(func):
        @functools.wraps(func)
        def inner(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except Exception:  # noqa: BLE001
                _log_exception(name)
                return None
        return inner
    return wrap


@_guarded("open reconstruct dialog")
def open_reconstruct_dialog(plugin, *_args) -> None:
    try:
        import processing
        # Not processing.execAlgorithmDialog: it reads the dialog's results after exec_(), from
        # a dialog that closing with the window's X may already have deleted. Shown modeless,
        # as the Processing toolbox does; the dialog deletes itself when closed.
        dialog = processing.createAlgorithmDialog(ALGORITHM_ID)
        if dialog is None:
            raise RuntimeError(f"the algorithm {ALGORITHM_ID} is not registered")
        dialog.show()
        dialog.raise_()
    except Exception as e:  # noqa: BLE001
        _log_exception("open reconstruct dialog")
        _message(plugin, f"Could not open the Reconstruct dialog: {e}", Qgis.Critical)


@_guarded("install PyTorch")
def open_install_dialog(plugin, *_args) -> None:
    try:
        from .install_dialog import show_install_dialog
    except ImportError:
        _message(plugin, "The PyTorch installer is not available in this version of the plugin.",
                 Qgis.Warning)
        return
    show_install_dialog(plugin.iface.mainWindow())


@_guarded("swipe")
def toggle_swipe(plugin, action: QAction, checked: bool) -> None:
    canvas = plugin.iface.mapCanvas()
    tool = plugin.swipe_tool
    if not checked:
        if canvas.mapTool() is tool:
            canvas.unsetMapTool(tool)
        return
    layer = plugin.iface.activeLayer()
    if not isinstance(layer, QgsRasterLayer):
        action.setChecked(False)
        _message(plugin, "Select a raster layer (e.g. the filled result) in the Layers panel, "
                 "then start the swipe: it is shown left of the divider, its cloudy input "
                 "(else the raster below it) on the right.", Qgis.Warning)
        return
    tool.set_after_layer(layer)
    if canvas.mapTool() is not tool:
        canvas.setMapTool(tool)


@_guarded("swipe layer change")
def follow_active_layer(plugin, layer=None, *_args) -> None:
    """While the swipe is on, a newly selected raster becomes the "after" layer."""
    tool = plugin.swipe_tool
    if tool is None or plugin.iface.mapCanvas().mapTool() is not tool:
        return
    if isinstance(layer, QgsRasterLayer):
        tool.set_after_layer(layer)


def build_toolbar(plugin) -> None:
    """Create the toolbar, its actions, the Raster menu entries and the swipe tool."""
    iface = plugin.iface
    main_window = iface.mainWindow()
    toolbar = iface.addToolBar(TOOLBAR)
    toolbar.setObjectName("SmtsCloudFillToolbar")
    toolbar.setToolTip(TOOLBAR)
    plugin.toolbar = toolbar

    reconstruct = QAction(_plugin_icon(), "Reconstruct cloudy MSI", main_window)
    # No parentheses in tooltips: QGIS's shortcut manager strips "(...)" from them (it takes
    # that for an old shortcut) when it registers the action.
    reconstruct.setToolTip("Fill the cloudy dates of a Sentinel-2 time series: Processing")
    reconstruct.triggered.connect(functools.partial(open_reconstruct_dialog, plugin))

    swipe_ic = swipe_icon()
    if swipe_ic.isNull():
        swipe_ic = QgsApplication.getThemeIcon("/mActionSplitFeatures.svg")
    swipe = QAction(swipe_ic, "Swipe filled / cloudy", main_window)
    swipe.setCheckable(True)
    swipe.setToolTip(SWIPE_TIP)
    plugin.swipe_tool = SwipeMapTool(iface.mapCanvas())
    plugin.swipe_tool.setAction(swipe)  # unchecks the action when another tool is chosen
    swipe.triggered.connect(functools.partial(toggle_swipe, plugin, swipe))

    install = QAction(QgsApplication.getThemeIcon("/mActionShowPluginManager.svg"), "Install PyTorch...",
                      main_window)
    install.setToolTip("Install the PyTorch package that the reconstruction needs")
    install.triggered.connect(functools.partial(open_install_dialog, plugin))

    plugin.actions = [reconstruct, swipe, install]
    for action in plugin.actions:
        toolbar.addAction(action)
        iface.addPluginToRasterMenu(MENU, action)
    plugin._swipe_follow_slot = functools.partial(follow_active_layer, plugin)
    try:
        iface.currentLayerChanged.connect(plugin._swipe_follow_slot)
    except (AttributeError, TypeError):
        pass


def unload_toolbar(plugin) -> None:
    """Undo what only ``build_toolbar`` knows about: the active swipe and the layer signal.

    For ``plugin.unload`` (before it removes the menu entries and deletes the toolbar).
    """
    slot = getattr(plugin, "_swipe_follow_slot", None)
    if slot is not None and plugin.iface is not None:
        try:
            plugin.iface.currentLayerChanged.disconnect(slot)
        except (AttributeError, TypeError, RuntimeError):
            pass
        plugin._swipe_follow_slot = None
    tool = plugin.swipe_tool
    if tool is not None and plugin.iface is not None:
        canvas = plugin.iface.mapCanvas()
        if canvas.mapTool() is tool:
            canvas.unsetMapTool(tool)
        elif tool.item is not None:
            tool.deactivate()  # removes a leftover swipe item
    plugin.swipe_tool = None
