"""Adapting QGIS's processing feedback to the engine's :class:`~..core.progress.Feedback`."""
from __future__ import annotations

from qgis.core import QgsProcessingFeedback

from ..core.progress import Feedback


class QgisFeedback(Feedback):
    """Progress in percent, messages to the log, cancel from the dialog or SIGINT."""

    def __init__(self, feedback: QgsProcessingFeedback | None) -> None:
        self.fb = feedback or QgsProcessingFeedback()

    def progress(self, fraction: float, message: str | None = None) -> None:
        self.fb.setProgress(100.0 * fraction)
        if message:
            self.fb.setProgressText(message)

    def info(self, message: str) -> None:
        self.fb.pushInfo(message)

    def warn(self, message: str) -> None:
        self.fb.pushWarning(message)

    def is_cancelled(self) -> bool:
        return self.fb.isCanceled()
