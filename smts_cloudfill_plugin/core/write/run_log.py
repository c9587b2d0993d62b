"""The run's log beside its outputs: what a run said through its feedback, kept in a file.

QGIS's log goes with the dialog and the command line's with the terminal; the log file stays
with the rasters it describes (as EnMAP-Box writes one beside its outputs). It is one of the
run's outputs, all or nothing: a failed or cancelled run leaves none.
"""
from __future__ import annotations

import datetime as dt

from ..progress import Feedback
from .output_set import OutputSet, TextOutput, write_text


class RunLog(Feedback):
    """Passes everything on to ``feedback`` and keeps each message (warnings marked as the
    command line marks them) for :meth:`add_to`."""

    def __init__(self, feedback: Feedback) -> None:
        self.feedback = feedback
        self.lines: list[str] = []
        self.started = dt.datetime.now()

    def progress(self, fraction: float, message: str | None = None) -> None:
        self.feedback.progress(fraction, message)

    def info(self, message: str) -> None:
        self.lines.append(message)
        self.feedback.info(message)

    def warn(self, message: str) -> None:
        self.lines.append(f"WARNING: {message}")
        self.feedback.warn(message)

    def is_cancelled(self) -> bool:
        return self.feedback.is_cancelled()

    def text(self, title: str, closing: list[str]) -> str:
        """The log: ``title`` and the start time, every message so far, then ``closing`` (what
        the run will say once its outputs are in place)."""
        head = f"{title}, started {self.started.isoformat(timespec='seconds')}"
        return "\n".join([head, "", *self.lines, *closing]) + "\n"

    def add_to(self, outputs: OutputSet, path: str, title: str, closing: list[str]) -> None:
        """Write the log (:meth:`text`) as one of ``outputs``, put in place with them."""
        write_text(outputs.add(TextOutput(path)).tmp_path, self.text(title, closing))
