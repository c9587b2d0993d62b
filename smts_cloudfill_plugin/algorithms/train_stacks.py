"""Processing algorithm "Train on local stacks": thin glue around ``core.training.local``."""
from __future__ import annotations

import os

from qgis.core import (QgsApplication, QgsProcessingAlgorithm, QgsProcessingException,
                       QgsProcessingParameterBoolean, QgsProcessingParameterFile,
                       QgsProcessingParameterFileDestination, QgsProcessingParameterNumber)

from ..dependencies import missing_message, torch_available
from .base import WEIGHTS_FILTER, StackAlgorithm
from .desktop_hooks import desktop_hooks
from .feedback import QgisFeedback, starting
from ..qgis_io.layer_sources import layer_file


def default_model_path() -> str:
    """Where a trained model goes unless the user says otherwise: a folder of the QGIS profile
    (kept across sessions; a temporary file would be deleted when QGIS closes)."""
    return os.path.join(QgsApplication.qgisSettingsDirPath(), "smts_cloudfill", "models",
                        "smts_local.pt")


class TrainStacksAlgorithm(StackAlgorithm):
    """Fine-tunes or trains a model on a season; the shared stack parameters come from
    StackAlgorithm."""

    INIT_MODEL, FROM_SCRATCH = "INIT_MODEL", "FROM_SCRATCH"
    MAX_MINUTES, EPOCHS, VALIDATION_FRACTION, SEED = \
        "MAX_MINUTES", "EPOCHS", "VALIDATION_FRACTION", "SEED"
    OUTPUT_MODEL, OUTPUT_REPORT = "OUTPUT_MODEL", "OUTPUT_REPORT"

    MSI_LABEL = "Sentinel-2 dates of the season (MSI)"
    HELP = {
        INIT_MODEL: "Optional weights to fine-tune. Empty: the bundled SMTS-ViT (MTS-ViT without "
                    "SAR). Its bands must match the stack's.",
        FROM_SCRATCH: "Train a new model for the stack's own bands (any band set) instead of "
                      "fine-tuning.",
        MAX_MINUTES: "Training stops after this many minutes (or after the epochs, whichever "
                     "comes first).",
        EPOCHS: "Passes over the training windows (or the time limit, whichever comes first).",
        VALIDATION_FRACTION: "Share of the date windows, the latest in the season, held out to "
                             "choose the best step and to compare with temporal interpolation.",
        SEED: "Random seed: the same seed gives the same model on the CPU.",
        OUTPUT_MODEL: "The trained weights (.pt), usable as MODEL in 'Reconstruct cloudy MSI' and "
                      "on the command line. A checkpoint beside it lets a stopped run resume.",
        OUTPUT_REPORT: "HTML report: loss curves and held-out metrics against temporal "
                       "interpolation.",
    }
    ADVANCED = (SEED,)
    SUMMARY = ("Adapts the cloud-filling model to your own season: fine-tunes the bundled "
               "SMTS-ViT (or a given model), or trains a new one from scratch for any band set. "
               "Clear pixels are hidden under synthetic clouds and the model learns to give them "
               "back; really cloudy pixels are left out. The latest date windows are held out and "
               "the report compares the model with temporal interpolation on them. Cancel keeps "
               "the best model so far; running again with the same output resumes.")

    def name(self) -> str:
        return "train"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Train on local stacks")

    def flags(self):
        # One training at a time: it uses every core; no batch of trainings.
        return (super().flags() | QgsProcessingAlgorithm.FlagCanCancel) & \
            ~QgsProcessingAlgorithm.FlagSupportsBatch

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        shared = self.shared_parameter
        tr, number = self.tr, QgsProcessingParameterNumber
        self.add_parameters([
            shared(self.MSI), shared(self.MASKS), shared(self.SAR), shared(self.CLOUD_BUFFER),
            QgsProcessingParameterFile(self.INIT_MODEL, tr("Model to fine-tune (empty: bundled)"),
                                       fileFilter=WEIGHTS_FILTER, optional=True),
            QgsProcessingParameterBoolean(self.FROM_SCRATCH, tr("Train from scratch"), False),
            number(self.MAX_MINUTES, tr("Maximum minutes"), number.Double, 10.0, minValue=0.1),
            number(self.EPOCHS, tr("Epochs"), number.Integer, 50, minValue=1),
            number(self.VALIDATION_FRACTION, tr("Held-out fraction of windows"), number.Double,
                   0.2, minValue=0.0, maxValue=0.9),
            number(self.SEED, tr("Seed"), number.Integer, 0),
            shared(self.DEVICE), shared(self.MSI_DATES), shared(self.SAR_DATES),
            QgsProcessingParameterFileDestination(self.OUTPUT_MODEL, tr("Trained model"),
                                                  "SMTS CloudFill weights (*.pt)",
                                                  defaultValue=default_model_path(),
                                                  createByDefault=True),
            QgsProcessingParameterFileDestination(self.OUTPUT_REPORT, tr("Training report"),
                                                  tr("HTML files (*.html)"), optional=True),
        ])

    def checkParameterValues(self, parameters, context):  # noqa: N802
        """A trained model must outlive the session: no temporary file (the shared checks
        first)."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        value = parameters.get(self.OUTPUT_MODEL)
        text = value.sink.staticValue() if hasattr(value, "sink") else value
        if isinstance(text, str) and text.strip().upper() == "TEMPORARY_OUTPUT":
            return False, self.tr("Choose a file for the trained model: a temporary file is "
                                  "deleted when QGIS closes, and the model with it.")
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        if not torch_available():
            raise QgsProcessingException(missing_message())
        starting(feedback)
        from ..core.errors import CloudFillError
        from ..core.training.local import train_on_stacks

        msi, masks, sar = ([layer_file(l) for l in self.layers(parameters, name, context)]
                           for name in (self.MSI, self.MASKS, self.SAR))
        output = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context)
        report = self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context) or None
        if not output.lower().endswith(".pt"):
            output += ".pt"
        from ..core.write.folder_lock import made_folder
        try:
            # A run refused before anything is written leaves no folder it made.
            with made_folder(os.path.dirname(os.path.abspath(output))):
                result = train_on_stacks(
                    msi, output, masks=masks or None, sar=sar or None,
                    init_model=self.parameterAsFile(parameters, self.INIT_MODEL, context) or None,
                    from_scratch=self.parameterAsBoolean(parameters, self.FROM_SCRATCH, context),
                    max_minutes=self.parameterAsDouble(parameters, self.MAX_MINUTES, context),
                    epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
                    validation_fraction=self.parameterAsDouble(parameters,
                                                               self.VALIDATION_FRACTION, context),
                    seed=self.parameterAsInt(parameters, self.SEED, context),
                    device=self.device(parameters, context),
                    report=report,
                    msi_dates=self.dates(parameters, self.MSI_DATES, len(msi), context),
                    sar_dates=self.dates(parameters, self.SAR_DATES, len(sar), context),
                    feedback=QgisFeedback(feedback),
                    cloud_buffer=self.parameterAsInt(parameters, self.CLOUD_BUFFER, context))
        except CloudFillError as e:  # Cancelled included: the best model so far is kept
            raise QgsProcessingException(str(e)) from None
        self._trained = (result.output, {"MSI": msi, "MASKS": masks, "SAR": sar,
                                         "CLOUD_BUFFER": parameters.get(self.CLOUD_BUFFER)})
        return {self.OUTPUT_MODEL: result.output, self.OUTPUT_REPORT: result.report}

    def postProcessAlgorithm(self, context, feedback):  # noqa: N802
        """In the desktop, offer the new model to Reconstruct on the same stack."""
        offer = desktop_hooks().offer_trained_model
        trained = getattr(self, "_trained", None)
        if offer is not None and trained is not None:
            offer(*trained)
        return {}
