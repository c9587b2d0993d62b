"""Adapting QGIS's processing feedback to the engine's :class:`~..core.progress.Feedback`."""
from __future__ import annotations

from qgis.core import QgsProcessingFeedback
from qgis.PyQt.QtCore import QCoreApplication

from ..core.progress import Feedback


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: QgisFeedback)."""
    return QCoreApplication.translate("QgisFeedback", text)


class QgisFeedback(Feedback):
    """Progress in percent, messages to the log, cancel from the dialog or SIGINT."""

    #: Said at once when the user presses Cancel (the run stops at its next step).
    CANCELLING = ("Cancelling: the run stops after the step in progress; nothing half-written "
                  "is kept.")

    def __init__(self, feedback: QgsProcessingFeedback | None) -> None:
        self.fb = feedback or QgsProcessingFeedback()
        # Cancel is pressed on the main thread while the run works in a task: say so at once
        # rather than after the step in progress ends.
        self.fb.canceled.connect(self._cancelling)

    def _cancelling(self) -> None:
        self.fb.setProgressText(tr(self.CANCELLING))
        self.fb.pushInfo(tr(self.CANCELLING))

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


def starting(feedback: QgsProcessingFeedback) -> None:
    """Say what the first seconds go to (importing PyTorch, loading the model) and show 0 %,
    instead of a busy stripe with nothing said."""
    feedback.setProgressText(tr("Loading PyTorch and the model..."))
    feedback.setProgress(0)
