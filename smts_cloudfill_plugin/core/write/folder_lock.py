"""The output folder of a run: created, checked writable, and locked against a second run.

The lock is a hidden file naming the computer, process and start time (:func:`folder_lock`);
one left by a process that has ended on this computer is taken over, and so are the parts
(:mod:`.output_set`) such a process left (:func:`clean_stale_parts`). The engine takes the lock
(``reconstruct``, ``prepare_series``): callers do not, and it is not re-entrant.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import time
import uuid

from ..errors import CloudFillError
from .output_set import PART_NAME, host_tag

#: Hidden lock file of a folder being written by a run (:func:`folder_lock`).
LOCK_NAME = ".smts_cloudfill.lock"
#: A lock file that cannot be read is taken as left over once it is this old (seconds).
UNREADABLE_LOCK_AGE = 30.0


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this computer (never signals it)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if sys.platform == "win32":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        try:
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        finally:
            kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_parts(folder: str) -> list[str]:
    """Remove the parts of our naming whose process has ended (on this computer); return their
    names. Parts of a live run, or of a run on another computer, are left alone."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    here = host_tag()
    for name in names:
        m = PART_NAME.match(name)
        if m is None:
            continue
        pid = m.group("pid")
        if pid is not None and (m.group("host") != here or pid_alive(int(pid))):
            continue
        try:
            os.remove(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def check_writable(folder: str) -> None:
    """A clear error when ``folder`` cannot be created or written to."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise CloudFillError(f"Cannot create the output folder '{folder}': {e.strerror}.") from None
    if not os.access(folder, os.W_OK):
        raise CloudFillError(f"The output folder '{folder}' is not writable.")
    clean_stale_parts(folder)



@contextlib.contextmanager
def made_folder(folder: str):
    """``folder`` (and its parents) created for the block, and removed again when the block
    leaves it empty: a refused run leaves no folder behind."""
    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        yield folder
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(folder)


@contextlib.contextmanager
def folder_lock(folder: str):
    """Keep other runs out of ``folder`` for the block (a second run is refused with a message).

    The lock is a hidden file naming the computer, process and start time. One left by a
    process that has ended (on this computer) is taken over; parts of ended runs are removed.
    It is not re-entrant: the engine alone takes it, once a run. A folder the lock created is
    removed again when the block leaves it empty.
    """
    created = not os.path.isdir(folder)
    check_writable(folder)
    path = os.path.join(folder, LOCK_NAME)
    token = _take_lock(path, folder)
    try:
        clean_stale_parts(folder)
        yield
    finally:
        if _read_lock(path) == token:
            with contextlib.suppress(OSError):
                os.remove(path)
        if created:   # a refused run (or one with nothing to write) leaves no empty folder
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def _read_lock(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            found = json.load(f)
        return found if isinstance(found, dict) else None
    except (OSError, ValueError):
        return None


def _lock_is_stale(path: str, owner: dict | None) -> bool:
    if owner is None:
        try:
            return time.time() - os.path.getmtime(path) > UNREADABLE_LOCK_AGE
        except OSError:
            return True
    try:
        pid = int(owner.get("pid", -1))
    except (TypeError, ValueError):
        return True
    return owner.get("host") == socket.gethostname() and not pid_alive(pid)


def _take_lock(path: str, folder: str) -> dict:
    token = {"pid": os.getpid(), "host": socket.gethostname(),
             "started": dt.datetime.now().isoformat(timespec="seconds"), "id": uuid.uuid4().hex}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read_lock(path)
            if _lock_is_stale(path, owner):
                with contextlib.suppress(OSError):
                    os.remove(path)
                continue
            raise CloudFillError(_locked_message(folder, path, owner)) from None
        except OSError as e:
            raise CloudFillError(f"Cannot lock the output folder '{folder}': "
                                 f"{e.strerror}.") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(token, f)
        return token
    raise CloudFillError(_locked_message(folder, path, _read_lock(path)))


def _locked_message(folder: str, path: str, owner: dict | None) -> str:
    who = "another SMTS CloudFill run"
    if owner:
        where = "this computer" if owner.get("host") == socket.gethostname() else \
            f"computer '{owner.get('host')}'"
        who += f" (process {owner.get('pid')} on {where}, started {owner.get('started', '?')})"
    return (f"The output folder '{folder}' is in use by {who}. Wait until that run has "
            "finished or choose another output folder. If no run is active any more, delete "
            f"'{path}'.")
