"""The outputs of one run, all or none: written under part names, renamed together at its end.

Files are written under a hidden temporary name beside the destination (a "part") and renamed
only when the whole run has succeeded (:class:`OutputSet`), all of them or none, so a failed,
cancelled or terminated run leaves nothing half written behind. A part names the computer and
process that writes it: one left by a killed process (``kill -9``, a power cut) is removed by
the next run into that folder (:func:`.folder_lock.clean_stale_parts`). Small files written on
their own (weights, a report) go whole or not at all too (:func:`write_bytes`).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import uuid
from typing import Protocol, TypeVar

from ..errors import CloudFillError
from ..progress import sigterm_as_cancel
from .disk import write_failed

#: ".<name>.<host tag>-<pid>-<random>.part"; older versions wrote ".<name>.<8 hex>.part".
PART_NAME = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{4})-(?P<pid>\d+)-)?[0-9a-f]{6,8}\.part$")


def host_tag(host: str | None = None) -> str:
    return hashlib.sha1((host or socket.gethostname()).encode()).hexdigest()[:4]


#: Longest file name most file systems take (bytes).
NAME_MAX = 255


def part_path(path: str) -> str:
    """A new hidden temporary name beside ``path``, naming this computer and process. A name
    too long for the file system once the suffix is added is cut and given a short hash of the
    whole name, so any output whose own name fits can be written."""
    folder, name = os.path.split(os.path.abspath(path))
    suffix = f".{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:6]}.part"
    room = NAME_MAX - len(suffix.encode()) - 1
    if len(name.encode()) > room:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name.encode()[:room - 9].decode(errors="ignore") + "~" + digest
    return os.path.join(folder, f".{name}{suffix}")


def final_path(path: str) -> str:
    """The destination a part (:func:`part_path`) is written for; any other path as it is.
    Messages name the file the user asked for, not our temporary name for it."""
    folder, name = os.path.split(path)
    m = PART_NAME.match(name)
    if m is None:
        return path
    return os.path.join(folder, name[1:name.rindex(".", 0, len(name) - len(".part"))])


def write_bytes(path: str, data: bytes | str, kept: str = "Nothing was written") -> None:
    """Write a small file (a report, weights) whole or not at all, under a part name of ours;
    a clear :class:`CloudFillError` naming it when it cannot be written (a full disk), with
    nothing of it left behind (``kept`` says what stays on disk)."""
    part = part_path(path)
    try:
        if isinstance(data, str):
            with open(part, "w", encoding="utf-8") as f:
                f.write(data)
        else:
            with open(part, "wb") as f:
                f.write(data)
        os.replace(part, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(part)
        if isinstance(e, OSError):
            raise CloudFillError(write_failed(final_path(path), e, kept)) from None
        raise


def write_text(path: str, text: str) -> None:
    """Write a small text file (a report) whole or not at all (:func:`write_bytes`)."""
    write_bytes(path, text)


class TextOutput:
    """A small text file (a report) of an :class:`OutputSet`, put in place with its rasters:
    write it to :attr:`tmp_path` (e.g. with :func:`write_text`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tmp_path = part_path(path)

    def close(self) -> None:
        """Nothing to finish: the text is written whole."""

    def abort(self) -> None:
        """Drop the temporary file."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.tmp_path)


class Output(Protocol):
    """What an :class:`OutputSet` holds: a file written at ``tmp_path`` for ``path``."""

    path: str
    tmp_path: str

    def close(self) -> None: ...

    def abort(self) -> None: ...


Writer = TypeVar("Writer", bound=Output)


class OutputSet:
    """All files of one run (:class:`.raster.RasterWriter`, :class:`TextOutput`): renamed together
    on success, all removed on any failure.

    Use as a context manager: leaving the block with an exception (a cancel or, in the main
    thread, SIGTERM included) aborts every writer; leaving it normally commits them, all or
    none: when one cannot be put in place, those already moved are taken back and older
    outputs they replaced are restored.
    """

    def __init__(self) -> None:
        self.writers: list[Output] = []
        self._signals = None

    def add(self, writer: Writer) -> Writer:
        self.writers.append(writer)
        return writer

    def __enter__(self) -> "OutputSet":
        self._signals = sigterm_as_cancel()
        self._signals.__enter__()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                self._abort()
                return
            failed = None
            try:
                for w in self.writers:
                    w.close()
            except RuntimeError as e:   # GDAL could not finish a file (a full disk)
                failed = write_failed(w.path, e)   # not e: its traceback holds the file open
            except BaseException:
                self._abort()
                raise
            if failed is not None:
                self._abort()
                raise CloudFillError(failed)
            self._commit_all()
        finally:
            signals, self._signals = self._signals, None
            if signals is not None:
                signals.__exit__(None, None, None)

    def _abort(self) -> None:
        for w in self.writers:
            try:
                w.abort()
            except OSError:
                pass

    def _commit_all(self) -> None:
        for w in self.writers:
            if os.path.isdir(w.path):
                self._abort()
                raise CloudFillError(
                    f"Cannot put '{os.path.basename(w.path)}' in place: '{w.path}' is a folder. "
                    "Nothing was written: rename or remove that folder, or choose another "
                    "output folder.")
        done: list[tuple[str, str | None]] = []  # (final path, backup of the older file)
        current = None
        try:
            for w in self.writers:
                current = w.path
                backup = None
                if os.path.lexists(w.path):
                    backup = part_path(w.path)
                    os.replace(w.path, backup)
                done.append((w.path, backup))
                os.replace(w.tmp_path, w.path)
        except BaseException as e:
            self._roll_back(done)
            self._abort()
            if isinstance(e, OSError):
                raise CloudFillError(
                    f"Cannot put '{current}' in place: {e.strerror or e}. Nothing was written "
                    "(older outputs are kept).") from None
            raise
        for _, backup in done:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.remove(backup)

    @staticmethod
    def _roll_back(done: list[tuple[str, str | None]]) -> None:
        """Take back the files already moved in place, and put the older ones back."""
        for path, backup in reversed(done):
            with contextlib.suppress(OSError):
                if os.path.lexists(path) and (backup is None or os.path.lexists(backup)):
                    os.remove(path)
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.replace(backup, path)
