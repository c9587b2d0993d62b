"""Errors the user is meant to read.

Everything the engine refuses (bad rasters, wrong weights, a cancel) is raised as a
:class:`CloudFillError` with a message naming the file and the problem. The command line and the
QGIS algorithms print that message as it is; any other exception is a bug.
"""


class CloudFillError(Exception):
    """A problem with the user's input or weights, worded for the user."""


class Cancelled(CloudFillError):
    """The user cancelled; whatever was being written has been removed."""

    def __init__(self, message: str = "Cancelled by the user; no output was written.") -> None:
        super().__init__(message)


class Terminated(Cancelled):
    """The process was asked to stop (SIGTERM); whatever was being written has been removed."""

    def __init__(self, message: str = "Stopped by a termination signal (SIGTERM); no output "
                 "was written.") -> None:
        super().__init__(message)
