"""Processing algorithm "Reconstruct cloudy MSI": thin glue around ``core.reconstruct``."""
from __future__ import annotations

import datetime as dt
import os

from qgis.core import (QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingOutputHtml, QgsProcessingOutputMultipleLayers, QgsProcessingParameterBoolean,
                       QgsProcessingParameterFile, QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterNumber, QgsProcessingParameterString)

from ..core.plan.windows import WINDOWS_PER_CALL
from ..core.read.clouds import DEFAULT_SCL_MISSING, describe_scl_classes, parse_scl_classes
from ..core.read.haze import DEFAULT_HAZE_CHECK, DEFAULT_HAZE_K, HAZE_NOISE
from ..dependencies import missing_message, torch_available
from .base import WEIGHTS_FILTER, StackAlgorithm
from .feedback import QgisFeedback, starting
from ..qgis_io.layer_sources import layer_file
from .output_layers import load_run_outputs

NO_MSI = ("No Sentinel-2 (MSI) layers were given. In the batch dialog (QGIS 3.22), give each "
          "row's dates as the file paths separated by ';' in the 'Sentinel-2 dates (MSI)' cell "
          "(the '...' button, 'Select files', picks several), the masks likewise, one per date "
          "in the same order.")
#: The SCL_CLASSES parameter's default, as the text it takes.
DEFAULT_SCL_TEXT = ",".join(map(str, DEFAULT_SCL_MISSING))


class ReconstructMsiAlgorithm(StackAlgorithm):
    """Fills the cloudy dates of a stack; the shared stack parameters come from StackAlgorithm."""

    MODEL, SCL_CLASSES, BATCH_SIZE = "MODEL", "SCL_CLASSES", "BATCH_SIZE"
    SELF_CHECK = "SELF_CHECK"
    HAZE_CHECK, HAZE_K = "HAZE_CHECK", "HAZE_K"
    OUTPUT_FOLDER, FILLED, FILLED_MASKS = "OUTPUT_FOLDER", "FILLED", "FILLED_MASKS"
    FILLED_RMSE = "FILLED_RMSE"
    NDVI_LAYERS, FILLED_NDVI = "NDVI_LAYERS", "FILLED_NDVI"
    CHECK_REPORT = "CHECK_REPORT"

    HELP = {
        MODEL: "Optional weights file (.pt). Empty: the bundled SMTS-ViT, or MTS-ViT when no SAR "
               "is given. Models trained with 'Train on local stacks' work here.",
        SCL_CLASSES: "SCL classes counted as cloudy (comma separated). Default: "
                     "{scl_default}.",
        BATCH_SIZE: "Windows per model call; lower it if the GPU runs out of memory.",
        SELF_CHECK: "Before filling, hide some clear pixels of each cloudy date and fill them "
                    "every candidate way: temporal interpolation, with or without the date's own "
                    "residual (what its clear pixels around the cloud say), plus a weight of the "
                    "model's correction, whole or as brightness only (the spectral angle that of "
                    "what it is added to), or the residual and the model both as brightness on "
                    "interpolation's spectrum (its spectral angle). Each date is filled with the "
                    "candidate of lowest MSE among those never worse than interpolation on MSE, SAM or SSIM. A wholly "
                    "cloudy date is checked by hiding whole clear dates instead (the model's "
                    "brightness only, smoothed along interpolation's image). The figures go "
                    "to the log and to cloudfill_check.html in the output folder. Off: the "
                    "model alone.",
        HAZE_CHECK: "Add to each date's cloud mask the clear pixels that are far brighter than "
                    "their own time series says: the haze index (blue - 0.5 red) above that of "
                    "both the nearest clear date before and after, by more than the threshold "
                    "below (haze and thin cloud rims that the SCL calls clear; a harvest or "
                    "bare soil that stays is not flagged). The first and last dates are never "
                    "flagged. The log says how many pixels it added per date. Measured on real "
                    "seasons (model_weights/HAZE.md): at the default threshold it flags 0.08 % "
                    "of the clear pixels of wholly clear dates and 7 % of those of partly "
                    "cloudy dates, and takes the hazy blobs next to the clouds of the demo's "
                    "2019-04-26 into the fill. Off by default: on held-out windows scored "
                    "against SCL-clear pixels it cost the fill 2-6 points of its gain (real "
                    "clouds on one date: 57 % below interpolation's error without it, 51 % "
                    "with it) and left a wholly cloudy date 2.6 % worse than interpolation.",
        HAZE_K: "Haze check threshold, in multiples of the haze index's noise measured on real "
                "seasons ({haze_noise} reflectance). Lower flags more. Default {haze_k}.",
        NDVI_LAYERS: "Also write <input name>_filled_ndvi.tif, the NDVI of each filled date "
                     "((B08 - B04) / (B08 + B04) on reflectance, Float32, no data NaN), and load "
                     "it under its filled layer in the usual NDVI colours (unticked).",
        OUTPUT_FOLDER: "Folder for <input name>_filled.tif (clear pixels unchanged, cloudy pixels "
                       "filled), <input name>_filled_mask.tif (1 = filled) and, with the "
                       "self-check, <input name>_filled_rmse.tif (each filled pixel's expected "
                       "error, RMS over bands in reflectance, by its distance to the date's "
                       "nearest clear pixel, as the check measured it on this scene) of every "
                       "cloudy date.",
    }
    HELP_VALUES = {"scl_default": describe_scl_classes(DEFAULT_SCL_MISSING),
                   "haze_noise": f"{HAZE_NOISE:g}", "haze_k": f"{DEFAULT_HAZE_K:g}"}
    ADVANCED = (SCL_CLASSES, HAZE_K, BATCH_SIZE)
    SUMMARY = ("Fills the cloudy pixels of every cloudy date of a Sentinel-2 time series with "
               "the SMTS-ViT vision transformer, using the clear dates and, when given, "
               "Sentinel-1 SAR (which sees through clouds). Clear pixels are copied unchanged; "
               "each cloudy date gets a filled raster, a filled-pixel mask and (with the "
               "self-check) each filled pixel's expected error, on the input's grid, CRS, no "
               "data, band names and data type; the log ends with a plain summary per date "
               "and is kept beside the outputs (cloudfill_log.txt). All outputs are put in "
               "place together when the run succeeds, or none.\n\n"
               "Before filling, the self-check hides some clear pixels of each cloudy date, "
               "fills them with the model, with temporal interpolation and with the date's own "
               "residual, and fills the date the way that did best there, never worse than "
               "interpolation; a wholly cloudy date is checked by hiding whole clear dates "
               "(log and cloudfill_check.html).\n\n"
               "Inputs: 6 or more Sentinel-2 dates about 10 days apart (10 bands B02, B03, B04, "
               "B05, B06, B07, B08, B8A, B11, B12), optional per-date cloud masks (SCL or 0/1), "
               "optional Sentinel-1 VV/VH dates over the same weeks.")

    def name(self) -> str:
        return "reconstruct"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Reconstruct cloudy MSI")

    def flags(self):
        return super().flags() | QgsProcessingAlgorithm.FlagSupportsBatch | \
            QgsProcessingAlgorithm.FlagCanCancel

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        shared = self.shared_parameter
        self.add_parameters([
            shared(self.MSI), shared(self.MASKS), shared(self.SAR),
            QgsProcessingParameterFile(self.MODEL, self.tr("Model weights (empty: bundled)"),
                                       fileFilter=WEIGHTS_FILTER, optional=True),
            shared(self.DEVICE),
            QgsProcessingParameterString(self.SCL_CLASSES, self.tr("SCL classes counted as cloudy"),
                                         defaultValue=DEFAULT_SCL_TEXT),
            shared(self.CLOUD_BUFFER),
            QgsProcessingParameterBoolean(self.HAZE_CHECK, self.tr(
                "Add haze the cloud mask misses (temporal outlier check)"),
                                          defaultValue=DEFAULT_HAZE_CHECK),
            QgsProcessingParameterNumber(self.HAZE_K, self.tr("Haze check threshold (x noise)"),
                                         QgsProcessingParameterNumber.Double, DEFAULT_HAZE_K,
                                         minValue=0.5, maxValue=100.0),
            shared(self.MSI_DATES), shared(self.SAR_DATES),
            QgsProcessingParameterBoolean(self.SELF_CHECK, self.tr(
                "Check the model against temporal interpolation on this scene"),
                defaultValue=True),
            QgsProcessingParameterNumber(self.BATCH_SIZE, self.tr("Windows per batch"),
                                         QgsProcessingParameterNumber.Integer, WINDOWS_PER_CALL,
                                         minValue=1,
                                         maxValue=1024),
            QgsProcessingParameterBoolean(self.NDVI_LAYERS,
                                          self.tr("Also NDVI layers of the filled dates"),
                                          defaultValue=False),
            QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder")),
        ])
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILLED, self.tr("Filled rasters")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILLED_MASKS,
                                                         self.tr("Filled-pixel masks")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILLED_RMSE, self.tr(
            "Expected errors of the filled pixels")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.FILLED_NDVI,
                                                         self.tr("NDVI of the filled dates")))
        # An HTML output: the Results Viewer lists it, and a click opens it.
        self.addOutput(QgsProcessingOutputHtml(self.CHECK_REPORT, self.tr("Self-check report")))

    def index_rasters(self, parameters, context) -> tuple[str, ...]:
        """The spectral index rasters the engine writes with the outputs (NDVI or none)."""
        return ("NDVI",) if self.parameterAsBool(parameters, self.NDVI_LAYERS, context) else ()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        if not torch_available():
            raise QgsProcessingException(missing_message())
        starting(feedback)
        from ..core.errors import Cancelled, CloudFillError
        from ..core.reconstruct import reconstruct
        from ..core.write.names import CHECK_REPORT as REPORT_NAME

        msi_layers = self.layers(parameters, self.MSI, context)
        mask_layers = self.layers(parameters, self.MASKS, context)
        sar_layers = self.layers(parameters, self.SAR, context)
        if not msi_layers:
            raise QgsProcessingException(self.tr(NO_MSI))
        try:
            classes = parse_scl_classes(self.parameterAsString(parameters, self.SCL_CLASSES,
                                                               context))
        except CloudFillError as e:
            raise QgsProcessingException(str(e)) from None
        msi_dates = self.dates(parameters, self.MSI_DATES, len(msi_layers), context)
        sar_dates = self.dates(parameters, self.SAR_DATES, len(sar_layers), context)
        folder = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        weights = self.parameterAsFile(parameters, self.MODEL, context) or None
        device = self.device(parameters, context)
        try:
            results = reconstruct(
                [layer_file(l) for l in msi_layers], folder,
                masks=[layer_file(l) for l in mask_layers] or None,
                sar=[layer_file(l) for l in sar_layers] or None,
                weights=weights, device=device,
                batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
                scl_classes=classes or DEFAULT_SCL_MISSING, msi_dates=msi_dates,
                sar_dates=sar_dates,
                self_check=self.parameterAsBool(parameters, self.SELF_CHECK, context),
                feedback=QgisFeedback(feedback),
                cloud_buffer=self.parameterAsInt(parameters, self.CLOUD_BUFFER, context),
                haze_check=self.parameterAsBool(parameters, self.HAZE_CHECK, context),
                haze_k=self.parameterAsDouble(parameters, self.HAZE_K, context),
                index_rasters=self.index_rasters(parameters, context))
        except Cancelled as e:
            raise QgsProcessingException(str(e)) from None
        except CloudFillError as e:
            raise QgsProcessingException(str(e)) from None
        self._loads = [(r.path, r.mask_path, msi_layers[r.date_index].id(), r.date,
                        r.index_paths.get("NDVI"))
                       for r in sorted(results, key=lambda r: r.date_index)]
        report = os.path.join(folder, REPORT_NAME)
        return {self.OUTPUT_FOLDER: folder, self.FILLED: [r.path for r in results],
                self.FILLED_MASKS: [r.mask_path for r in results],
                self.FILLED_RMSE: [r.rmse_path for r in results if r.rmse_path],
                self.FILLED_NDVI: [r.index_paths["NDVI"] for r in results
                                   if "NDVI" in r.index_paths],
                self.CHECK_REPORT: report if results and os.path.exists(report) else None}

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """Cheap checks before the run, so the dialog can say what is wrong at once."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        from ..qgis_io.stack_checks import stack_problems
        msi = self.layers(parameters, self.MSI, context)
        masks = self.layers(parameters, self.MASKS, context)
        sar = self.layers(parameters, self.SAR, context)
        if not msi:
            return False, self.tr(NO_MSI)
        if masks and len(masks) != len(msi):
            return False, self.tr("{masks} cloud masks for {dates} Sentinel-2 dates: give one "
                                  "mask per date, in the same order, or none.").format(
                                      masks=len(masks), dates=len(msi))
        try:
            msi_dates = self.dates(parameters, self.MSI_DATES, len(msi), context)
            sar_dates = self.dates(parameters, self.SAR_DATES, len(sar), context)
        except QgsProcessingException as e:
            return False, str(e)
        problems = stack_problems(msi, masks, sar, msi_dates, sar_dates)
        if problems:
            return False, (self.tr("Please fix the date table before running:") + "\n- "
                           + "\n- ".join(problems))
        return True, ""

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        group = f"SMTS CloudFill {dt.datetime.now():%Y-%m-%d %H:%M:%S}"
        load_run_outputs(context, getattr(self, "_loads", []), group, self.FILLED,
                         self.FILLED_MASKS, self.FILLED_NDVI)
        return {}
