"""Progress, messages and cancel, without QGIS.

The engine reports through a :class:`Feedback`; the QGIS layer wraps a
``QgsProcessingFeedback`` in one, the command line prints. Long loops call
:meth:`Feedback.check` so a cancel stops them within one step.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

from .errors import Cancelled, Terminated


class Feedback:
    """Silent feedback: the base the command line and QGIS adapters override."""

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report overall progress in [0, 1]."""

    def info(self, message: str) -> None:
        """Report a line for the log."""

    def warn(self, message: str) -> None:
        """Report something the user should know but that does not stop the run."""

    def is_cancelled(self) -> bool:
        return False

    def check(self) -> None:
        """Raise :class:`Cancelled` when the user asked to stop."""
        if self.is_cancelled():
            raise Cancelled()


class PrintFeedback(Feedback):
    """Feedback for the command line: messages to stderr, a percentage every 10 %."""

    def __init__(self, stream=sys.stderr, quiet: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self._last = -1

    def progress(self, fraction: float, message: str | None = None) -> None:
        step = int(fraction * 10)
        if step != self._last and not self.quiet:
            self._last = step
            print(f"  {step * 10:3d} %" + (f"  {message}" if message else ""), file=self.stream)

    def info(self, message: str) -> None:
        if not self.quiet:
            print(message, file=self.stream)

    def warn(self, message: str) -> None:
        print(f"WARNING: {message}", file=self.stream)


class SubFeedback(Feedback):
    """Maps a sub-step's progress [0, 1] onto [start, end] of its parent's."""

    def __init__(self, parent: Feedback, start: float, end: float) -> None:
        self.parent, self.start, self.end = parent, start, end

    def progress(self, fraction: float, message: str | None = None) -> None:
        self.parent.progress(self.start + (self.end - self.start) * fraction, message)

    def info(self, message: str) -> None:
        self.parent.info(message)

    def warn(self, message: str) -> None:
        self.parent.warn(message)

    def is_cancelled(self) -> bool:
        return self.parent.is_cancelled()


@contextlib.contextmanager
def sigterm_as_cancel():
    """Inside the block, SIGTERM stops the run like a cancel (:class:`Terminated` is raised, so
    every ``with`` block cleans up) instead of killing the process with its files half written.

    Only in the main thread and only when no one else handles SIGTERM (QGIS, a host program);
    a second signal while cleaning up is ignored. The previous handler is back after the block.
    """
    sig = getattr(signal, "SIGTERM", None)
    # == SIG_DFL, not "is": an embedded Python (qgis_process) reports the default as a plain 0.
    if sig is None or threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(sig) != signal.SIG_DFL:
        yield
        return
    fired = []

    def handler(signum, frame) -> None:  # noqa: ARG001
        if not fired:
            fired.append(signum)
            raise Terminated()

    previous = signal.signal(sig, handler)
    try:
        yield
    finally:
        signal.signal(sig, previous)
