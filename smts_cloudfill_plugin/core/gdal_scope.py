"""GDAL's Python exception mode, on only while our own datasets are open.

``gdal.UseExceptions()`` is a process-wide switch in GDAL 3.6's bindings: set at import, it
would change how ``gdal.Open`` behaves for every other plugin in the QGIS process (an exception
instead of ``None``). The engine needs exceptions (it turns them into clear messages), so a run
(``reconstruct``, ``prepare_series``: the engine, never its callers) and each holder of a
dataset (a stack, a writer, a single open) turns them on for its lifetime, and the previous
mode comes back when the last one is done: a count of holders, not a re-entry table. GDAL 3.7+ has a thread-local
``gdal.ExceptionMgr``; with it the switch does not leak to other threads at all.
"""
from __future__ import annotations

import contextlib
import threading

from osgeo import gdal

_lock = threading.Lock()
_users = 0
_saved: bool | None = None


def acquire() -> None:
    """Exceptions on until the matching :func:`release`."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = bool(gdal.GetUseExceptions())
            gdal.UseExceptions()
        _users += 1


def release() -> None:
    """Undo one :func:`acquire`; the last one restores the mode found by the first."""
    global _users, _saved
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0:
            if not _saved:
                gdal.DontUseExceptions()
            _saved = None


@contextlib.contextmanager
def gdal_exceptions():
    """GDAL raises ``RuntimeError`` inside the block; the caller's mode is back after it."""
    acquire()
    try:
        yield
    finally:
        release()
