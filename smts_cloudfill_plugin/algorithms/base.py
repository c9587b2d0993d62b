"""What the provider's algorithms share, declared once.

``CloudFillAlgorithm``: icon, (no) group and a fresh instance, for every algorithm.
``StackAlgorithm``: Reconstruct and Train both read a stack of Sentinel-2 dates with masks and
SAR; its parameters (MSI, MASKS, SAR, DEVICE, CLOUD_BUFFER, MSI_DATES, SAR_DATES), their help,
how they are read and the credits are declared here, so the two dialogs cannot drift apart.
Each algorithm lists its parameters in its own dialog order and keeps only its own.
"""
from __future__ import annotations

import os

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..core.model.config import SAR_FINDING
from ..core.model.device import DEVICES
from ..core.read.clouds import DEFAULT_CLOUD_BUFFER, GROWN_CLASSES
from .desktop_hooks import desktop_hooks
from .dialog_widgets import date_table_metadata
from ..paths import ICON_PATH

#: The DEVICE enum's labels: core's DEVICES in its order (index 0, auto, is the default), the
#: acronyms upper-cased.
DEVICE_LABELS = [d.title() if d == "auto" else d.upper() for d in DEVICES]
#: Weights files the file pickers offer and accept: ours are .pt; .pth is PyTorch's other usual
#: suffix, and the command line takes either.
WEIGHTS_FILTER = "PyTorch weights (*.pt *.pth)"
#: The cloud buffer a user may choose (pixels), in every algorithm that grows clouds.
MAX_CLOUD_BUFFER = 20
CREDITS = ("Method: Li, Wang, State, \"Vision Transformer-Based Time-Series Image Reconstruction "
           "for Cloud-Filling Applications\", IGARSS 2025, arXiv:2506.19591. Bundled model trained "
           "on Copernicus Sentinel data (contains modified Copernicus Sentinel data 2017-2019, "
           "WorldCereal training extractions, Flanders).")


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context of what this module says)."""
    return QCoreApplication.translate("CloudFillAlgorithm", text)


def parse_date_list(text: str, count: int, name: str) -> list | None:
    """A comma-separated YYYY-MM-DD list for ``count`` layers; None when empty."""
    from ..core.read.dates import parse_date
    text = (text or "").strip()
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    dates = [parse_date(p) for p in parts]
    if None in dates:
        raise QgsProcessingException(tr("{name}: '{value}' is not a date (use YYYY-MM-DD).")
                                     .format(name=name, value=parts[dates.index(None)]))
    if len(dates) != count:
        raise QgsProcessingException(tr("{name} lists {dates} dates for {count} layers.")
                                     .format(name=name, dates=len(dates), count=count))
    return dates


def device_name(value) -> str | None:
    """'auto', 'cpu' or 'cuda' for a DEVICE value given as an index (0, '1') or by name, in any
    case ('cpu', 'CUDA': what qgis_process users write); None when it is neither."""
    text = str(value).strip() if value is not None else ""
    if text.lstrip("-").isdigit():
        index = int(text)
        return DEVICES[index] if 0 <= index < len(DEVICES) else None
    return text.lower() if text.lower() in DEVICES else None


def with_device_index(parameters: dict, name: str) -> dict:
    """``parameters`` with a DEVICE given by name replaced by its index (the enum's own form)."""
    value = parameters.get(name)
    if isinstance(value, str) and not value.strip().isdigit() and device_name(value):
        parameters = dict(parameters)
        parameters[name] = DEVICES.index(device_name(value))
    return parameters


def split_layer_lists(parameters: dict, names: tuple[str, ...]) -> dict:
    """The batch dialog of QGIS 3.22 gives a multiple-layer cell as one 'path;path;...' string,
    which QGIS itself reads as a single (missing) layer: make it a list."""
    out = dict(parameters)
    for name in names:
        value = out.get(name)
        if isinstance(value, str) and ";" in value:
            out[name] = [v for v in value.split(";") if v.strip()]
    return out


#: How the engine names a file of each layer parameter in its messages ('MSI date 3').
FILE_ROLES = {"MSI": "MSI date", "MASKS": "Cloud mask", "SAR": "SAR date"}


def damaged_file(parameters: dict, roles: tuple[tuple[str, str], ...]) -> str | None:
    """The engine's message for the first file given by path (not a layer) in these
    multiple-layer parameters that cannot be used (not a raster, truncated), or None."""
    from ..core.read.raster import file_problem
    for name, role in roles:
        values = parameters.get(name)
        for i, value in enumerate(values if isinstance(values, (list, tuple)) else [values]):
            if isinstance(value, str) and os.path.isfile(value):
                problem = file_problem(value, f"{role} {i + 1}")
                if problem:
                    return problem
    return None


def layer_list(alg: QgsProcessingAlgorithm, parameters: dict, name: str, context) -> list:
    """The layers of a multiple-layer parameter (a batch 'a;b' string included)."""
    return alg.parameterAsLayerList(split_layer_lists(parameters, (name,)), name, context)


class RasterListParameter(QgsProcessingParameterMultipleLayers):
    """Rasters of one role (MSI dates, cloud masks or SAR dates). Those given by path
    (qgis_process, models) are checked as the engine opens them before QGIS loads them as
    layers: loading a truncated file, QGIS prints GDAL's raw read errors before any message of
    ours. Such a value is not acceptable here; the algorithm's checkParameterValues says why."""

    def __init__(self, name: str, description: str, role: str, optional: bool = False) -> None:
        super().__init__(name, description, QgsProcessing.TypeRaster, optional=optional)
        self.role = role

    def checkValueIsAcceptable(self, value, context=None) -> bool:  # noqa: N802
        name = self.name()
        if damaged_file(split_layer_lists({name: value}, (name,)), ((name, self.role),)):
            return False
        return super().checkValueIsAcceptable(value, context)


class CloudFillAlgorithm(QgsProcessingAlgorithm):
    """Icon, group, instance and help of every algorithm of the provider: ``SUMMARY`` for the
    help panel, the credits appended."""

    SUMMARY = ""
    #: Help of the algorithm's own parameters, by name; ``HELP_VALUES`` fill its ``{...}``.
    HELP: dict[str, str] = {}
    HELP_VALUES: dict[str, str] = {}

    def tr(self, text: str) -> str:
        """``text`` in the user's language (Qt's translation context: the algorithm's class)."""
        return QCoreApplication.translate(type(self).__name__, text)

    def help_text(self, name: str) -> str:
        """The help of parameter ``name``, translated."""
        return self.tr(self.HELP[name]).format_map(self.HELP_VALUES)

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(self.SUMMARY) + "\n\n" + tr(CREDITS)

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def group(self) -> str:
        return ""

    def groupId(self) -> str:  # noqa: N802 (QGIS's name)
        return ""

    def createInstance(self):  # noqa: N802
        return type(self)()

    def createCustomParametersWidget(self, parent=None):  # noqa: N802
        """The desktop's dialog for this algorithm (gui/algorithm_dialog.py, handed in by the
        plugin: see desktop_hooks.py); every way of opening the dialog asks this first. None
        (QGIS's own dialog) where the plugin set no hook."""
        make = desktop_hooks().algorithm_dialog
        return make(self, parent) if make is not None else None


class StackAlgorithm(CloudFillAlgorithm):
    """An algorithm running the model on a stack (Reconstruct, Train).

    Subclasses build their dialog order from :meth:`shared_parameter` and their own parameters,
    pass the list to :meth:`add_parameters`, give ``HELP`` for their own parameters, ``ADVANCED``
    for their own advanced ones and ``SUMMARY`` for the help panel (the credits are appended).
    """

    MSI, MASKS, SAR, DEVICE = "MSI", "MASKS", "SAR", "DEVICE"
    CLOUD_BUFFER = "CLOUD_BUFFER"
    MSI_DATES, SAR_DATES = "MSI_DATES", "SAR_DATES"

    #: The MSI parameter's label (Train says it is one season).
    MSI_LABEL = "Sentinel-2 dates (MSI)"
    ADVANCED: tuple[str, ...] = ()

    SHARED_HELP = {
        MSI: "Sentinel-2 rasters of one season, one multiband raster per date, in date order (at "
             "least 6 dates, about 10 days apart; the model sees 6 dates at a time). Bands are "
             "matched by name (B02 ... B12) or by position. UInt16 DN or float reflectance.",
        MASKS: "Optional cloud masks, one per MSI date in the same order: Sentinel-2 scene "
               "classification (SCL) or a 0/1 raster (1 = cloud; 0/255 and a cloud probability "
               "0..1 are understood too, and the log says how each mask was read). Masked, "
               "no-data and NaN pixels are the missing ones: Reconstruct fills them, Train leaves "
               "them out of the loss. Without masks only no-data and NaN pixels are missing.",
        SAR: "Optional Sentinel-1 rasters (VV, VH in dB or linear power), in date order, dates in "
             "the file names (or SAR_DATES), matched to the MSI dates by date. With SAR the "
             "SMTS-ViT model is used, without it MTS-ViT. SAR on another grid is resampled "
             "(bilinear) onto the MSI grid. The bundled SMTS-ViT fills no better than MTS-ViT "
             "on held-out seasons, wholly cloudy dates included (model card): "
             "{sar_finding}",
        DEVICE: "Where the model runs. Auto takes a CUDA GPU when PyTorch sees one, else the CPU. "
                "With qgis_process, DEVICE=cpu (or auto, cuda) works as well as the index.",
        CLOUD_BUFFER: (
            "Pixels (10 m) by which the clouds and cloud shadows of SCL masks (classes "
            "{grown_classes}) are grown: SCL misses hazy cloud rims, and "
            "the fill spreads what the pixels next to a cloud say into it, so the filled area "
            "would come out whitish. SCL masks only: a 0/1 mask (such as Prepare's "
            "CLOUDS_*.tif, already grown) is taken as it is. Default {cloud_buffer}, "
            "measured on real seasons: clear pixels 1, 2, 3 px from an SCL cloud are 4.1x, "
            "2.8x, 1.8x as far from their interpolation as pixels far from clouds, 4 and 5 px "
            "only 1.4x and 1.2x. Each pixel of buffer makes about 5 % more of a cloudy date's "
            "clear pixels missing: Reconstruct replaces their values, Train leaves them out of "
            "the loss. 0 uses the SCL as it is."),
        MSI_DATES: "Optional acquisition dates of the MSI layers, comma separated YYYY-MM-DD in "
                   "the same order; they replace dates read from file names or metadata. The date "
                   "table of the dialog fills this in.",
        SAR_DATES: "Optional acquisition dates of the SAR layers, comma separated YYYY-MM-DD in "
                   "the same order (used to match SAR dates to MSI dates).",
    }
    #: What fills the ``{...}`` of SHARED_HELP.
    SHARED_HELP_VALUES = {"sar_finding": SAR_FINDING,
                          "grown_classes": ", ".join(map(str, GROWN_CLASSES)),
                          "cloud_buffer": str(DEFAULT_CLOUD_BUFFER)}
    SHARED_ADVANCED = (MSI_DATES, SAR_DATES)
    #: The date table's role of each layer parameter (gui/date_table_wrapper.py).
    TABLE_ROLES = {MSI: "msi", MASKS: "masks", SAR: "sar"}

    def help_text(self, name: str) -> str:
        """The help of parameter ``name`` (the algorithm's own, else the shared one), translated."""
        if name in self.HELP:
            return super().help_text(name)
        return tr(self.SHARED_HELP[name]).format_map(self.SHARED_HELP_VALUES)

    def shared_parameter(self, name: str) -> QgsProcessingParameterDefinition:
        """A new definition of one shared parameter (help and flags come in add_parameters)."""
        if name == self.MSI:
            return RasterListParameter(self.MSI, self.tr(self.MSI_LABEL), FILE_ROLES[self.MSI])
        if name == self.MASKS:
            return RasterListParameter(self.MASKS, tr("Cloud masks (SCL or 0/1), one per date"),
                                       FILE_ROLES[self.MASKS], optional=True)
        if name == self.SAR:
            return RasterListParameter(self.SAR, tr("Sentinel-1 dates (VV, VH)"),
                                       FILE_ROLES[self.SAR], optional=True)
        if name == self.DEVICE:
            return QgsProcessingParameterEnum(self.DEVICE, tr("Device"), DEVICE_LABELS,
                                              defaultValue=0)
        if name == self.CLOUD_BUFFER:
            return QgsProcessingParameterNumber(self.CLOUD_BUFFER,
                                                tr("Cloud buffer for SCL masks (pixels)"),
                                                QgsProcessingParameterNumber.Integer,
                                                DEFAULT_CLOUD_BUFFER, minValue=0,
                                                maxValue=MAX_CLOUD_BUFFER)
        if name == self.MSI_DATES:
            return QgsProcessingParameterString(self.MSI_DATES,
                                                tr("Sentinel-2 dates (YYYY-MM-DD, ...)"),
                                                optional=True)
        if name == self.SAR_DATES:
            return QgsProcessingParameterString(self.SAR_DATES,
                                                tr("Sentinel-1 dates (YYYY-MM-DD, ...)"),
                                                optional=True)
        raise KeyError(name)

    def add_parameters(self, params: list) -> None:
        """Add ``params`` in this order, with their help, advanced flag and date-table widget."""
        advanced = self.SHARED_ADVANCED + tuple(self.ADVANCED)
        for p in params:
            p.setHelp(self.help_text(p.name()))
            if p.name() in advanced:
                p.setFlags(p.flags() | p.FlagAdvanced)
            if p.name() in self.TABLE_ROLES:
                p.setMetadata(date_table_metadata(self.TABLE_ROLES[p.name()]))
            self.addParameter(p)

    # ----- shared parameters -> engine arguments ---------------------------------------------
    def layers(self, parameters, name: str, context) -> list:
        """The layers of MSI, MASKS or SAR (a batch 'a;b' string included)."""
        return layer_list(self, parameters, name, context)

    def dates(self, parameters, name: str, count: int, context) -> list | None:
        """MSI_DATES or SAR_DATES for ``count`` layers; None when empty."""
        return parse_date_list(self.parameterAsString(parameters, name, context), count, name)

    def device(self, parameters, context) -> str:
        """'auto', 'cpu' or 'cuda', whether DEVICE was given as an index or by name."""
        return device_name(parameters.get(self.DEVICE)) or \
            DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)]

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """A DEVICE given by name is accepted (QGIS's enum check takes only indices). Files
        given by path (qgis_process, models) are checked first as the engine opens them, before
        QGIS loads them as layers: a truncated file is named at once, without GDAL's raw read
        errors that QGIS prints while loading it."""
        parameters = split_layer_lists(parameters, (self.MSI, self.MASKS, self.SAR))
        problem = damaged_file(parameters, tuple(FILE_ROLES.items()))
        if problem:
            return False, problem
        value = parameters.get(self.DEVICE)
        if isinstance(value, str) and value.strip() and device_name(value) is None:
            return False, tr("Device '{value}' is not one of {devices} (or the index "
                             "{indices}).").format(value=value, devices=", ".join(DEVICES),
                                                   indices=", ".join(map(str, range(len(DEVICES)))))
        return super().checkParameterValues(with_device_index(parameters, self.DEVICE), context)
