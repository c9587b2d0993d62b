"""The "SMTS CloudFill" Processing provider."""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..paths import ICON_PATH


class SmtsProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "smts_cloudfill"

    def name(self) -> str:
        return "SMTS CloudFill"

    def longName(self) -> str:  # noqa: N802
        return "SMTS CloudFill: cloud filling for Sentinel-2 time series"

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def loadAlgorithms(self) -> None:  # noqa: N802
        from .parcel_series import ParcelSeriesAlgorithm
        from .prepare_series import PrepareSeriesAlgorithm
        from .reconstruct_msi import ReconstructMsiAlgorithm
        from .train_stacks import TrainStacksAlgorithm
        self.addAlgorithm(PrepareSeriesAlgorithm())
        self.addAlgorithm(ReconstructMsiAlgorithm())
        self.addAlgorithm(TrainStacksAlgorithm())
        self.addAlgorithm(ParcelSeriesAlgorithm())
