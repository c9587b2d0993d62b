"""Processing algorithm "Reconstruct cloudy MSI": thin glue around ``core.reconstruct``."""
from __future__ import annotations

import datetime as dt

from qgis.core import (QgsProcessing, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputMultipleLayers, QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)
from qgis.PyQt.QtGui import QIcon

from ..core.stack_reader import DEFAULT_CLOUD_BUFFER
from ..dependencies import missing_message, torch_available
from ..plugin import resource_path
from .feedback import QgisFeedback
from .layers import layer_source_path, load_run_outputs

DEVICES = ["Auto", "CPU", "CUDA"]
#: Weights files the file pickers offer and accept: ours are .pt; .pth is PyTorch's other usual
#: suffix, and the command line takes either.
WEIGHTS_FILTER = "PyTorch weights (*.pt *.pth)"
NO_MSI = ("No Sentinel-2 (MSI) layers were given. In the batch dialog (QGIS 3.22), give each "
          "row's dates as the file paths separated by ';' in the 'Sentinel-2 dates (MSI)' cell "
          "(the '...' button, 'Select files', picks several), the masks likewise, one per date "
          "in the same order.")
CREDITS = ("Method: Li, Wang, State, \"Vision Transformer-Based Time-Series Image Reconstruction "
           "for Cloud-Filling Applications\", IGARSS 2025, arXiv:2506.19591. Bundled model trained "
           "on Copernicus Sentinel data (contains modified Copernicus Sentinel data 2017-2019, "
           "WorldCereal training extractions, Flanders).")
#: The cloud buffer a user may choose (pixels).
MAX_CLOUD_BUFFER = 20


def cloud_buffer_help(cost: str) -> str:
    """The CLOUD_BUFFER help of Reconstruct and Train; ``cost`` says what a ring costs there."""
    return (f"Pixels (10 m) by which the clouds and cloud shadows of SCL masks (classes 3, 8, 9, "
            f"10) are grown: SCL misses hazy cloud rims, and the fill spreads what the pixels "
            f"next to a cloud say into it, so the filled area would come out whitish. SCL masks "
            f"only: a 0/1 mask (such as Prepare's CLOUDS_*.tif, already grown) is taken as it "
            f"is. Default {DEFAULT_CLOUD_BUFFER}, measured on real seasons: clear pixels 1, 2, "
            f"3 px from an SCL cloud are 4.1x, 2.8x, 1.8x as far from their interpolation as "
            f"pixels far from clouds, 4 and 5 px only 1.4x and 1.2x. {cost} 0 uses the SCL as "
            f"it is.")


def cloud_buffer_parameter(name: str) -> QgsProcessingParameterNumber:
    """The CLOUD_BUFFER parameter of Reconstruct and Train (help: :func:`cloud_buffer_help`)."""
    return QgsProcessingParameterNumber(name, "Cloud buffer for SCL masks (pixels)",
                                        QgsProcessingParameterNumber.Integer,
                                        DEFAULT_CLOUD_BUFFER, minValue=0,
                                        maxValue=MAX_CLOUD_BUFFER)


def parse_date_list(text: str, count: int, name: str) -> list | None:
    """A comma-separated YYYY-MM-DD list for ``count`` layers; None when empty."""
    from ..core.dates import parse_date
    text = (text or "").strip()
    if not text:
        return None
    parts = [p.strip() for p in text.split(",")]
    dates = [parse_date(p) for p in parts]
    if None in dates:
        raise QgsProcessingException(f"{name}: '{parts[dates.index(None)]}' is not a date "
                                     "(use YYYY-MM-DD).")
    if len(dates) != count:
        raise QgsProcessingException(f"{name} lists {len(dates)} dates for {count} layers.")
    return dates


def device_name(value) -> str | None:
    """'auto', 'cpu' or 'cuda' for a DEVICE value given as an index (0, '1') or by name, in any
    case ('cpu', 'CUDA': what qgis_process users write); None when it is neither."""
    text = str(value).strip() if value is not None else ""
    if text.lstrip("-").isdigit():
        index = int(text)
        return DEVICES[index].lower() if 0 <= index < len(DEVICES) else None
    names = [d.lower() for d in DEVICES]
    return text.lower() if text.lower() in names else None


def with_device_index(parameters: dict, name: str) -> dict:
    """``parameters`` with a DEVICE given by name replaced by its index (the enum's own form)."""
    value = parameters.get(name)
    if isinstance(value, str) and not value.strip().isdigit() and device_name(value):
        parameters = dict(parameters)
        parameters[name] = [d.lower() for d in DEVICES].index(device_name(value))
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


def layer_list(alg: QgsProcessingAlgorithm, parameters: dict, name: str, context) -> list:
    """The layers of a multiple-layer parameter (a batch 'a;b' string included)."""
    return alg.parameterAsLayerList(split_layer_lists(parameters, (name,)), name, context)


class ReconstructMsiAlgorithm(QgsProcessingAlgorithm):
    MSI, MASKS, SAR, MODEL, DEVICE = "MSI", "MASKS", "SAR", "MODEL", "DEVICE"
    SCL_CLASSES, BATCH_SIZE = "SCL_CLASSES", "BATCH_SIZE"
    CLOUD_BUFFER = "CLOUD_BUFFER"
    SELF_CHECK = "SELF_CHECK"
    MSI_DATES, SAR_DATES = "MSI_DATES", "SAR_DATES"
    OUTPUT_FOLDER, FILLED, FILLED_MASKS = "OUTPUT_FOLDER", "FILLED", "FILLED_MASKS"

    HELP = {
        MSI: "Sentinel-2 rasters, one multiband raster per date, in date order (at least 6 dates, "
             "about 10 days apart). Bands are matched by name (B02 ... B12) or by position. "
             "UInt16 DN or float reflectance.",
        MASKS: "Optional cloud masks, one per MSI date in the same order: Sentinel-2 scene "
               "classification (SCL) or a 0/1 raster (1 = cloud). Without masks only no-data "
               "and NaN pixels are filled.",
        SAR: "Optional Sentinel-1 rasters (VV, VH in dB or linear power), in date order, dates in "
             "the file names. With SAR the SMTS-ViT model is used, without it MTS-ViT. SAR on "
             "another grid is resampled (bilinear) onto the MSI grid.",
        MODEL: "Optional weights file (.pt). Empty: the bundled SMTS-ViT, or MTS-ViT when no SAR "
               "is given. Models trained with 'Train on local stacks' work here.",
        DEVICE: "Where the model runs. Auto takes a CUDA GPU when PyTorch sees one, else the CPU. "
                "With qgis_process, DEVICE=cpu (or auto, cuda) works as well as the index.",
        SCL_CLASSES: "SCL classes counted as cloudy (comma separated). Default: 0 no data, "
                     "3 cloud shadow, 8 and 9 cloud, 10 thin cirrus.",
        CLOUD_BUFFER: cloud_buffer_help("Each pixel of buffer fills about 5 % more of a cloudy "
                                        "date's clear pixels (their own values are replaced)."),
        BATCH_SIZE: "Windows per model call; lower it if the GPU runs out of memory.",
        SELF_CHECK: "Before filling, hide some clear pixels of each cloudy date and fill them "
                    "every candidate way: temporal interpolation, with or without the date's own "
                    "residual (what its clear pixels around the cloud say), plus a weight of the "
                    "model's correction. Each date is filled with the candidate that did best "
                    "there, never worse than interpolation on MSE, SAM or SSIM. The figures go "
                    "to the log and to cloudfill_check.html in the output folder. Off: the "
                    "model alone.",
        MSI_DATES: "Optional acquisition dates of the MSI layers, comma separated YYYY-MM-DD in "
                   "the same order; they replace dates read from file names or metadata. The date "
                   "table of the dialog fills this in.",
        SAR_DATES: "Optional acquisition dates of the SAR layers, comma separated YYYY-MM-DD in "
                   "the same order (used to match SAR dates to MSI dates).",
        OUTPUT_FOLDER: "Folder for <input name>_filled.tif (clear pixels unchanged, cloudy pixels "
                       "filled) and <input name>_filled_mask.tif (1 = filled) of every cloudy date.",
    }

    def name(self) -> str:
        return "reconstruct"

    def displayName(self) -> str:  # noqa: N802
        return "Reconstruct cloudy MSI"

    def group(self) -> str:
        return ""

    def groupId(self) -> str:  # noqa: N802
        return ""

    def icon(self) -> QIcon:
        return QIcon(resource_path("icon.svg"))

    def createInstance(self):  # noqa: N802
        return type(self)()

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.FlagSupportsBatch | \
            QgsProcessingAlgorithm.FlagCanCancel

    def shortHelpString(self) -> str:  # noqa: N802
        return ("Fills the cloudy pixels of every cloudy date of a Sentinel-2 time series with "
                "the SMTS-ViT vision transformer, using the clear dates and, when given, "
                "Sentinel-1 SAR (which sees through clouds). Clear pixels are copied unchanged; "
                "each cloudy date gets a filled raster and a filled-pixel mask, on the input's "
                "grid, CRS, no data, band names and data type.\n\n"
                "Before filling, the self-check hides some clear pixels of each cloudy date, "
                "fills them with the model, with temporal interpolation and with the date's own "
                "residual, and fills the date the way that did best there, never worse than "
                "interpolation (log and cloudfill_check.html).\n\n"
                "Inputs: 6 or more Sentinel-2 dates about 10 days apart (10 bands B02, B03, B04, "
                "B05, B06, B07, B08, B8A, B11, B12), optional per-date cloud masks (SCL or 0/1), "
                "optional Sentinel-1 VV/VH dates over the same weeks.\n\n" + CREDITS)

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        from ..gui.widget_metadata import date_table_metadata
        params = [
            QgsProcessingParameterMultipleLayers(self.MSI, "Sentinel-2 dates (MSI)",
                                                 QgsProcessing.TypeRaster),
            QgsProcessingParameterMultipleLayers(self.MASKS, "Cloud masks (SCL or 0/1), one per date",
                                                 QgsProcessing.TypeRaster, optional=True),
            QgsProcessingParameterMultipleLayers(self.SAR, "Sentinel-1 dates (VV, VH)",
                                                 QgsProcessing.TypeRaster, optional=True),
            QgsProcessingParameterFile(self.MODEL, "Model weights (empty: bundled)",
                                       fileFilter=WEIGHTS_FILTER, optional=True),
            QgsProcessingParameterEnum(self.DEVICE, "Device", DEVICES, defaultValue=0),
            QgsProcessingParameterString(self.SCL_CLASSES, "SCL classes counted as cloudy",
                                         defaultValue="0,3,8,9,10"),
            cloud_buffer_parameter(self.CLOUD_BUFFER),
            QgsProcessingParameterString(self.MSI_DATES, "Sentinel-2 dates (YYYY-MM-DD, ...)",
                                         optional=True),
            QgsProcessingParameterString(self.SAR_DATES, "Sentinel-1 dates (YYYY-MM-DD, ...)",
                                         optional=True),
            QgsProcessingParameterBoolean(self.SELF_CHECK, "Check the model against temporal "
                                          "interpolation on this scene", defaultValue=True),
            QgsProcessingParameterNumber(self.BATCH_SIZE, "Windows per batch",
                                         QgsProcessingParameterNumber.Integer, 8, minValue=1,
                                         maxValue=1024),
            QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Output folder"),
        ]
        for p in params:
            p.setHelp(self.HELP[p.name()])
            if p.name() in (self.SCL_CLASSES, self.BATCH_SIZE, self.MSI_DATES, self.SAR_DATES):
                p.setFlags(p.flags() | p.FlagAdvanced)
            roles = {self.MSI: "msi", self.MASKS: "masks", self.SAR: "sar"}
            if p.name() in roles:
                p.setMetadata(date_table_metadata(roles[p.name()]))
            self.addParameter(p)
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILLED, "Filled rasters"))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILLED_MASKS, "Filled-pixel masks"))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        if not torch_available():
            raise QgsProcessingException(missing_message())
        from ..core.errors import Cancelled, CloudFillError
        from ..core.reconstruct import reconstruct

        from ..core.gdal_scope import gdal_exceptions
        from ..core.writer import folder_lock
        msi_layers = layer_list(self, parameters, self.MSI, context)
        mask_layers = layer_list(self, parameters, self.MASKS, context)
        sar_layers = layer_list(self, parameters, self.SAR, context)
        if not msi_layers:
            raise QgsProcessingException(NO_MSI)
        try:
            classes = tuple(int(c) for c in
                            self.parameterAsString(parameters, self.SCL_CLASSES, context).split(",")
                            if c.strip())
        except ValueError:
            raise QgsProcessingException("SCL classes must be whole numbers separated by commas, "
                                         "for example 0,3,8,9,10.") from None
        msi_dates = parse_date_list(self.parameterAsString(parameters, self.MSI_DATES, context),
                                    len(msi_layers), self.MSI_DATES)
        sar_dates = parse_date_list(self.parameterAsString(parameters, self.SAR_DATES, context),
                                    len(sar_layers), self.SAR_DATES)
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        weights = self.parameterAsFile(parameters, self.MODEL, context) or None
        device = device_name(parameters.get(self.DEVICE)) or \
            DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)].lower()
        try:
            with gdal_exceptions(), folder_lock(folder):
                results = reconstruct(
                    [layer_source_path(l) for l in msi_layers], folder,
                    masks=[layer_source_path(l) for l in mask_layers] or None,
                    sar=[layer_source_path(l) for l in sar_layers] or None,
                    weights=weights, device=device,
                    batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
                    scl_classes=classes or (0, 3, 8, 9, 10), msi_dates=msi_dates,
                    sar_dates=sar_dates,
                    self_check=self.parameterAsBool(parameters, self.SELF_CHECK, context),
                    feedback=QgisFeedback(feedback),
                    cloud_buffer=self.parameterAsInt(parameters, self.CLOUD_BUFFER, context))
        except Cancelled as e:
            raise QgsProcessingException(str(e)) from None
        except CloudFillError as e:
            raise QgsProcessingException(str(e)) from None
        self._loads = [(r.path, r.mask_path, msi_layers[r.date_index].id())
                       for r in sorted(results, key=lambda r: r.date_index)]
        return {self.OUTPUT_FOLDER: folder, self.FILLED: [r.path for r in results],
                self.FILLED_MASKS: [r.mask_path for r in results]}

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Cheap checks before the run, so the dialog can say what is wrong at once."""
        parameters = split_layer_lists(parameters, (self.MSI, self.MASKS, self.SAR))
        value = parameters.get(self.DEVICE)
        if isinstance(value, str) and value.strip() and device_name(value) is None:
            return False, (f"Device '{value}' is not one of auto, cpu, cuda (or the index "
                           "0, 1, 2).")
        ok, message = super().checkParameterValues(with_device_index(parameters, self.DEVICE),
                                                   context)
        if not ok:
            return ok, message
        from .stack_checks import stack_problems
        msi = layer_list(self, parameters, self.MSI, context)
        masks = layer_list(self, parameters, self.MASKS, context)
        sar = layer_list(self, parameters, self.SAR, context)
        if not msi:
            return False, NO_MSI
        if masks and len(masks) != len(msi):
            return False, (f"{len(masks)} cloud masks for {len(msi)} Sentinel-2 dates: give one "
                           "mask per date, in the same order, or none.")
        try:
            msi_dates = parse_date_list(self.parameterAsString(parameters, self.MSI_DATES, context),
                                        len(msi), self.MSI_DATES)
            sar_dates = parse_date_list(self.parameterAsString(parameters, self.SAR_DATES, context),
                                        len(sar), self.SAR_DATES)
        except QgsProcessingException as e:
            return False, str(e)
        problems = stack_problems(msi, masks, sar, msi_dates, sar_dates)
        if problems:
            return False, ("Please fix the date table before running:\n- " + "\n- ".join(problems))
        return True, ""

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        group = f"SMTS CloudFill {dt.datetime.now():%Y-%m-%d %H:%M:%S}"
        load_run_outputs(context, getattr(self, "_loads", []), group, self.FILLED,
                         self.FILLED_MASKS)
        return {}
