"""The "SMTS CloudFill" toolbar and Raster menu entries (built by the plugin's ``initGui``).

Actions, in the order of a user's work: open the Prepare, Reconstruct and Train dialogs, swipe
the active (filled) raster over the canvas (its cloudy source), open Parcel time series and the
parcel profile dock, and set up PyTorch (on the toolbar only while it is missing).
``plugin.unload`` removes the menu entries and deletes the toolbar. A finished training offers
its model to Reconstruct (``offer_trained_model``).
"""
from __future__ import annotations

import functools
import types

from qgis.core import Qgis, QgsApplication, QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication, QPointF, Qt
from qgis.PyQt.QtGui import QColor, QIcon, QPainter, QPen, QPixmap, QPolygonF
from qgis.PyQt.QtWidgets import QAction

from .. import dependencies as deps
from ..paths import ICON_PATH
from .slot_errors import log_exception
from .swipe_tool import SwipeMapTool

MENU = "SMTS CloudFill"
TOOLBAR = "SMTS CloudFill"
PROVIDER_ID = "smts_cloudfill"
#: The toolbar's algorithm buttons: (algorithm name, QGIS theme icon or None for the plugin's,
#: tooltip). The label is the algorithm's own display name; the icons tell the three apart at a
#: glance (a season of rasters, the fill, a model). No parentheses in tooltips: QGIS's shortcut
#: manager strips "(...)" from them (it takes that for an old shortcut) when it registers it.
ALGORITHM_BUTTONS = (
    ("prepare", "/mIconRasterGroup.svg",
     "From downloaded Sentinel-2 products and Sentinel-1 rasters to one season of per-date "
     "rasters and cloud masks on your area"),
    ("reconstruct", None, "Fill the cloudy dates of a Sentinel-2 time series"),
    ("train", "/processingModel.svg",
     "Adapt the cloud-filling model to your own season, or train one from scratch"),
)
ALGORITHM_ID = f"{PROVIDER_ID}:reconstruct"
#: After the swipe: the parcels' season as a table, and its curve per clicked parcel.
PARCEL_BUTTON = ("parcel_series", "/mActionOpenTable.svg",
                 "Each parcel's index date by date from the season and its fills: a table with "
                 "observed and filled shares and the expected error")
PROFILE_TIP = ("Show a parcel's season: click a parcel on the map to see its index curve, "
               "filled dates marked with their expected error")
SWIPE_TIP = ("Drag on the map to compare: the selected raster, e.g. the filled result, shows left "
             "of the divider, its cloudy input, else the raster below it, on the right")


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: Toolbar)."""
    return QCoreApplication.translate("Toolbar", text)


def _plugin_icon() -> QIcon:
    return QIcon(ICON_PATH)


def _drawn_icon(size: int, draw) -> QIcon:
    """An icon drawn by ``draw(painter, size)`` on a transparent, antialiased square."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.transparent)
    p = QPainter(pixmap)
    try:
        p.setRenderHint(QPainter.Antialiasing)
        draw(p, size)
    finally:
        p.end()
    return QIcon(pixmap)


def _draw_swipe(p: QPainter, size: int) -> None:
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


def swipe_icon(size: int = 32) -> QIcon:
    """A small drawn icon: a cloudy grey half, a green (filled) half and a split handle."""
    return _drawn_icon(size, _draw_swipe)


def _draw_profile(p: QPainter, size: int) -> None:
    s = size / 32.0
    p.setPen(QPen(QColor(60, 60, 60), max(1.0, 1.5 * s)))
    p.drawLine(QPointF(4 * s, 4 * s), QPointF(4 * s, 28 * s))
    p.drawLine(QPointF(4 * s, 28 * s), QPointF(29 * s, 28 * s))
    points = [QPointF(7 * s, 22 * s), QPointF(13 * s, 14 * s), QPointF(19 * s, 9 * s),
              QPointF(25 * s, 16 * s)]
    p.setPen(QPen(QColor(40, 110, 40), max(1.5, 2 * s)))
    for a, b in zip(points, points[1:]):
        p.drawLine(a, b)
    for i, c in enumerate(points):
        p.setBrush(QColor(255, 255, 255) if i == 2 else QColor(40, 110, 40))
        p.drawEllipse(c, 2.6 * s, 2.6 * s)


def profile_icon(size: int = 32) -> QIcon:
    """A small drawn icon: a season's curve with one hollow (filled) dot."""
    return _drawn_icon(size, _draw_profile)


def show_message(plugin, text: str, level=Qgis.Info, duration: int = 6) -> None:
    """A message bar line; ``plugin`` is the plugin or anything with its ``iface``."""
    try:
        plugin.iface.messageBar().pushMessage(MENU, text, level=level, duration=duration)
    except Exception:  # noqa: BLE001 (a message must never break a slot)
        log_exception("toolbar message")


def _guarded(name: str):
    """Decorate a slot so that no exception leaves it (one would abort QGIS)."""
    def wrap(func):
        @functools.wraps(func)
        def inner(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except Exception:  # noqa: BLE001
                log_exception(name)
                return None
        return inner
    return wrap


@_guarded("parcel profile")
def show_profile_dock(plugin, *_args) -> None:
    """Open (once) and show the parcel profile dock, ready to pick a parcel."""
    from .parcel_profile import ParcelProfileDock
    if getattr(plugin, "profile_dock", None) is None:
        plugin.profile_dock = ParcelProfileDock(plugin.iface, plugin.iface.mainWindow())
        plugin.iface.addDockWidget(Qt.RightDockWidgetArea, plugin.profile_dock)
    dock = plugin.profile_dock
    dock.show()
    dock.raise_()
    dock.pick.setChecked(True)


@_guarded("open algorithm dialog")
def open_algorithm_dialog(plugin, algorithm_id: str, parameters: dict | None = None,
                          *_args) -> None:
    """Open an algorithm's dialog, modeless, as the Processing toolbox does.

    The dialog is our PinnedAlgorithmDialog (the algorithms' createCustomParametersWidget): it
    keeps itself alive until Qt deletes it, so no reference is needed here.
    """
    try:
        import processing
        dialog = processing.createAlgorithmDialog(algorithm_id, parameters or {})
        if dialog is None:
            raise RuntimeError(f"the algorithm {algorithm_id} is not registered")
        dialog.show()
        dialog.raise_()
    except Exception as e:  # noqa: BLE001
        log_exception("open algorithm dialog")
        show_message(plugin, tr("Could not open the dialog of {algorithm}: {error}").format(
            algorithm=algorithm_id, error=e), Qgis.Critical)


@_guarded("open parcel time series")
def open_parcel_series_dialog(plugin, *_args) -> None:
    """Parcel time series, opened with the project's season, its fills and parcels chosen."""
    from qgis.core import QgsProject

    from ..qgis_io.parcel_defaults import project_defaults
    open_algorithm_dialog(plugin, f"{PROVIDER_ID}:{PARCEL_BUTTON[0]}",
                          project_defaults(QgsProject.instance()))


def open_reconstruct_dialog(plugin, *_args) -> None:
    open_algorithm_dialog(plugin, ALGORITHM_ID)


def torch_status() -> str:
    """'PyTorch 2.13.0 is installed' or 'PyTorch is not installed', without importing torch."""
    if not deps.torch_available():
        return tr("PyTorch is not installed")
    try:
        from importlib.metadata import version
        return tr("PyTorch {version} is installed").format(version=version("torch"))
    except Exception:  # noqa: BLE001 (a torch without metadata still runs)
        return tr("PyTorch is installed")


def offer_trained_model(iface, model_path: str, parameters: dict) -> None:
    """After Train: a message bar with a button that opens Reconstruct on the same stack with
    the new model (the user would otherwise have to find the file again)."""
    from qgis.PyQt.QtWidgets import QPushButton
    bar = iface.messageBar()
    item = bar.createMessage(MENU, tr("Model trained: {path}").format(path=model_path))
    button = QPushButton(tr("Fill with this model..."))
    fill = {k: v for k, v in parameters.items() if v not in (None, "", [])
            and k in ("MSI", "MASKS", "SAR", "DEVICE", "CLOUD_BUFFER", "MSI_DATES", "SAR_DATES")}
    fill["MODEL"] = model_path
    owner = types.SimpleNamespace(iface=iface)  # what the dialog opener needs of a plugin
    button.clicked.connect(functools.partial(open_algorithm_dialog, owner, ALGORITHM_ID, fill))
    item.layout().addWidget(button)
    bar.pushWidget(item, Qgis.Success, 0)


@_guarded("install PyTorch")
def open_install_dialog(plugin, *_args) -> None:
    try:
        from .install_dialog import show_install_dialog
    except ImportError:
        show_message(plugin, tr("The PyTorch installer is not available in this version of the "
                            "plugin."), Qgis.Warning)
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
        show_message(plugin, tr("Select a raster layer (e.g. the filled result) in the Layers "
                            "panel, then start the swipe: it is shown left of the divider, its "
                            "cloudy input (else the raster below it) on the right."),
                 Qgis.Warning)
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

    registry = QgsApplication.processingRegistry()
    algorithm_actions = []
    for name, theme_icon, tip in ALGORITHM_BUTTONS:
        algorithm = registry.algorithmById(f"{PROVIDER_ID}:{name}")
        label = algorithm.displayName() if algorithm is not None else tr(name.title())
        icon = QgsApplication.getThemeIcon(theme_icon) if theme_icon else _plugin_icon()
        action = QAction(icon, label, main_window)
        action.setToolTip(tr(tip))
        action.triggered.connect(functools.partial(open_algorithm_dialog, plugin,
                                                   f"{PROVIDER_ID}:{name}", None))
        algorithm_actions.append(action)

    swipe_ic = swipe_icon()
    if swipe_ic.isNull():
        swipe_ic = QgsApplication.getThemeIcon("/mActionSplitFeatures.svg")
    swipe = QAction(swipe_ic, tr("Swipe filled / cloudy"), main_window)
    swipe.setCheckable(True)
    swipe.setToolTip(tr(SWIPE_TIP))
    plugin.swipe_tool = SwipeMapTool(iface.mapCanvas())
    plugin.swipe_tool.setAction(swipe)  # unchecks the action when another tool is chosen
    swipe.triggered.connect(functools.partial(toggle_swipe, plugin, swipe))

    status = torch_status()
    missing = not deps.torch_available()
    install = QAction(QgsApplication.getThemeIcon("/mActionShowPluginManager.svg"),
                      tr("Install PyTorch...") if missing else tr("PyTorch set-up..."),
                      main_window)
    install.setToolTip(tr("{status}. The model needs it; install it, or reinstall it with CUDA "
                          "for an NVIDIA GPU, into QGIS's profile").format(status=status))
    install.triggered.connect(functools.partial(open_install_dialog, plugin))

    name, theme_icon, tip = PARCEL_BUTTON
    algorithm = registry.algorithmById(f"{PROVIDER_ID}:{name}")
    parcels = QAction(QgsApplication.getThemeIcon(theme_icon),
                      algorithm.displayName() if algorithm is not None
                      else tr("Parcel time series"),
                      main_window)
    parcels.setToolTip(tr(tip))
    parcels.triggered.connect(functools.partial(open_parcel_series_dialog, plugin))
    profile = QAction(profile_icon(), tr("Parcel profile"), main_window)
    profile.setToolTip(tr(PROFILE_TIP))
    profile.triggered.connect(functools.partial(show_profile_dock, plugin))
    plugin.profile_dock = None

    plugin.actions = algorithm_actions + [swipe, parcels, profile, install]
    for action in plugin.actions:
        if action is not install or missing:  # set-up stays in the Raster menu once installed
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
    dock = getattr(plugin, "profile_dock", None)
    if dock is not None and plugin.iface is not None:
        canvas = plugin.iface.mapCanvas()
        if canvas.mapTool() is dock.tool:
            canvas.unsetMapTool(dock.tool)
        dock.shut_down()
        plugin.iface.removeDockWidget(dock)
        dock.deleteLater()
    plugin.profile_dock = None
