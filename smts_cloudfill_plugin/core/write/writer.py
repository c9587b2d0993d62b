"""Writing results as GeoTIFF: same grid, CRS, no data, band names, type and scaling as the input.

Files are written under a hidden temporary name beside the destination (a "part") and renamed
only when the whole run has succeeded (:class:`OutputSet`), all of them or none, so a failed,
cancelled or terminated run leaves nothing half written behind. A part names the computer and
process that writes it: one left by a killed process (``kill -9``, a power cut) is removed by
the next run into that folder. :func:`folder_lock` keeps two runs out of one folder.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from typing import TypeVar

import numpy as np
from osgeo import gdal

from .. import gdal_scope
from ..errors import CloudFillError
from ..progress import sigterm_as_cancel
from ..read.raster import RasterInfo
from .disk import write_failed

#: Value of the filled-pixel mask raster: 0 kept from the input, 1 filled by the model.
MASK_KEPT, MASK_FILLED = 0, 1


def creation_options(dtype: np.dtype, width: int, height: int) -> list[str]:
    """Tiled (when large enough), DEFLATE-compressed GeoTIFF; BigTIFF when it may exceed 4 GB."""
    opts = ["COMPRESS=DEFLATE", "ZLEVEL=1", f"PREDICTOR={3 if np.dtype(dtype).kind == 'f' else 2}",
            "BIGTIFF=IF_SAFER"]
    if width > 256 or height > 256:
        opts += ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256"]
    return opts


#: Hidden lock file of a folder being written by a run (:func:`folder_lock`).
LOCK_NAME = ".smts_cloudfill.lock"
# ".<name>.<host tag>-<pid>-<random>.part"; older versions wrote ".<name>.<8 hex>.part".
_PART = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{4})-(?P<pid>\d+)-)?[0-9a-f]{6,8}\.part$")
#: A lock file that cannot be read is taken as left over once it is this old (seconds).
UNREADABLE_LOCK_AGE = 30.0


def _host_tag(host: str | None = None) -> str:
    return hashlib.sha1((host or socket.gethostname()).encode()).hexdigest()[:4]


#: Longest file name most file systems take (bytes).
NAME_MAX = 255


def part_path(path: str) -> str:
    """A new hidden temporary name beside ``path``, naming this computer and process. A name
    too long for the file system once the suffix is added is cut and given a short hash of the
    whole name, so any output whose own name fits can be written."""
    folder, name = os.path.split(os.path.abspath(path))
    suffix = f".{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:6]}.part"
    room = NAME_MAX - len(suffix.encode()) - 1
    if len(name.encode()) > room:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name.encode()[:room - 9].decode(errors="ignore") + "~" + digest
    return os.path.join(folder, f".{name}{suffix}")


def final_path(path: str) -> str:
    """The destination a part (:func:`part_path`) is written for; any other path as it is.
    Messages name the file the user asked for, not our temporary name for it."""
    folder, name = os.path.split(path)
    m = _PART.match(name)
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
    here = _host_tag()
    for name in names:
        m = _PART.match(name)
        if m is None:
            continue
        if m.group("pid") is not None and (m.group("host") != here or pid_alive(int(m.group("pid")))):
            continue
        try:
            os.remove(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


class RasterWriter:
    """A GeoTIFF written window by window under a temporary name; :meth:`commit` renames it."""

    def __init__(self, path: str, like: RasterInfo, band_count: int | None = None,
                 dtype: np.dtype | None = None, descriptions: list[str] | None = None,
                 nodata: float | None | str = "like", metadata: dict[str, str] | None = None,
                 copy_scaling: bool = True) -> None:
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        self.tmp_path = part_path(path)
        self.ds = None
        gdal_scope.acquire()  # released by close/abort
        self._scoped = True
        count = band_count or like.band_count
        #: The file's data type (by default the one of ``like``: each date keeps its own).
        self.dtype = dtype = np.dtype(dtype or like.numpy_dtype)
        gdal_type = gdal.GetDataTypeByName({"uint8": "Byte"}.get(dtype.name, dtype.name.capitalize()))
        try:
            driver = gdal.GetDriverByName("GTiff")
            self.ds = driver.Create(self.tmp_path, like.width, like.height, count, gdal_type,
                                    creation_options(dtype, like.width, like.height))
        except RuntimeError as e:
            self.abort()
            raise CloudFillError(f"Cannot write '{path}': {e}") from None
        self.ds.SetGeoTransform(like.geotransform)
        if like.crs_wkt:
            self.ds.SetProjection(like.crs_wkt)
        md = dict(like.metadata) if band_count is None else {}
        md.update(metadata or {})
        if md:
            self.ds.SetMetadata(md)
        for i in range(count):
            band = self.ds.GetRasterBand(i + 1)
            nd = like.nodata[i] if nodata == "like" and i < len(like.nodata) else \
                (None if nodata == "like" else nodata)
            if nd is not None:
                band.SetNoDataValue(nd)
            desc = (descriptions or like.descriptions)[i] if descriptions or band_count is None else ""
            if desc:
                band.SetDescription(desc)
            if copy_scaling and band_count is None:
                if like.scales[i] != 1.0:
                    band.SetScale(like.scales[i])
                if like.offsets[i] != 0.0:
                    band.SetOffset(like.offsets[i])

    @property
    def block_size(self) -> tuple[int, int]:
        """The file's block (tile) width and height."""
        return tuple(self.ds.GetRasterBand(1).GetBlockSize())

    def strip(self, x0: int, x1: int, max_piece_rows: int) -> "StripWriter":
        """A writer of columns [x0, x1) that takes pieces row by row and hands them to GDAL
        one whole block-row at a time (:class:`StripWriter`)."""
        return StripWriter(self, max_piece_rows, x0, x1)

    def write(self, x0: int, y0: int, array: np.ndarray) -> None:
        """Write a (bands, h, w) or (h, w) array at pixel (x0, y0)."""
        a = array if array.ndim == 3 else array[None]
        failed = None
        try:
            for i in range(a.shape[0]):
                self.ds.GetRasterBand(i + 1).WriteArray(a[i], x0, y0)
        except RuntimeError as e:   # a full disk, a file size limit
            failed = str(e)
        self._raise_if(failed)

    def flush(self) -> None:
        """Hand what GDAL holds of the file to the disk (and free its cache of it)."""
        failed = None
        try:
            self.ds.FlushCache()
        except RuntimeError as e:
            failed = str(e)
        self._raise_if(failed)

    def _raise_if(self, failed: str | None) -> None:
        """GDAL could not write (a full disk): say so naming the file. Raised outside the
        ``except`` block, so no traceback of GDAL's error holds the dataset open: aborting then
        closes it at once and quietly, not at exit with a screen of GDAL's errors."""
        if failed is not None:
            raise CloudFillError(write_failed(self.path, failed))

    def close(self) -> None:
        try:
            if self.ds is not None:
                self.ds.FlushCache()
                self.ds = None
        finally:
            self._unscope()

    def commit(self) -> None:
        """Finish the file and move it to its final name (replacing an older one)."""
        self.close()
        os.replace(self.tmp_path, self.path)

    def abort(self) -> None:
        """Drop the temporary file. GDAL is kept quiet while it lets go of the dataset: a file
        that failed to write (a full disk) fails again on closing, which GDAL would print (or,
        raising from a destructor, Python as "Exception ignored")."""
        hook = sys.unraisablehook
        sys.unraisablehook = lambda unraisable: None
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            self.ds = None
        finally:
            gdal.PopErrorHandler()
            sys.unraisablehook = hook
        self._unscope()
        if os.path.exists(self.tmp_path):
            os.remove(self.tmp_path)

    def _unscope(self) -> None:
        if self._scoped:
            self._scoped = False
            gdal_scope.release()


class StripWriter:
    """Buffers rows of columns [x0, x1) of a :class:`RasterWriter`'s file and writes them
    block-row by block-row (made by :meth:`RasterWriter.strip`).

    Pieces arrive with :meth:`put` anywhere in the rows not yet written; :meth:`rows_done` says
    that all rows above ``y`` are complete. A block-row (the dataset's block height, e.g. 256
    rows of a tiled GeoTIFF) is written as soon as it is complete, and flushed column group by
    column group. With ``x0`` and ``x1`` on block boundaries (or the raster's edge), GDAL
    compresses each tile once, never holds partial tiles, and its cache never fills with output.
    It writes through its :class:`RasterWriter` and holds no dataset of its own, so aborting the
    writer (an error, a cancel) closes the file whatever still refers to this object.
    """

    def __init__(self, writer: RasterWriter, max_piece_rows: int, x0: int = 0,
                 x1: int | None = None, flush_columns: int = 1024) -> None:
        self.writer = writer
        ds = writer.ds
        self.bands = ds.RasterCount
        self.height = ds.RasterYSize
        self.x0, self.x1 = x0, ds.RasterXSize if x1 is None else x1
        bw, bh = writer.block_size
        self.block_h = min(bh, self.height)
        self.flush_columns = max(bw, flush_columns // bw * bw)
        self.top = 0   # first row not yet handed to GDAL
        rows = self.block_h + max_piece_rows
        self.buffer = np.zeros((self.bands, rows, self.x1 - self.x0), dtype=writer.dtype)

    def put(self, x: int, y: int, array: np.ndarray) -> None:
        """Store a (bands, h, w) piece at raster pixel (x, y); its rows must not be written yet."""
        a = array if array.ndim == 3 else array[None]
        dy, dx = y - self.top, x - self.x0
        self.buffer[:, dy:dy + a.shape[1], dx:dx + a.shape[2]] = a

    def rows_done(self, y: int) -> None:
        """Rows above ``y`` are complete: write every complete block-row."""
        while self.top < self.height and y >= min(self.top + self.block_h, self.height):
            n = min(self.block_h, self.height - self.top)
            self._write(n)
            rest = y - (self.top + n)
            if rest > 0:
                self.buffer[:, :rest] = self.buffer[:, n:n + rest].copy()
            self.top += n

    def _write(self, n: int) -> None:
        width = self.x1 - self.x0
        for c0 in range(0, width, self.flush_columns):
            c1 = min(width, c0 + self.flush_columns)
            self.writer.write(self.x0 + c0, self.top, self.buffer[:, :n, c0:c1])
            self.writer.flush()


#: What an :class:`OutputSet` holds.
Writer = TypeVar("Writer", "RasterWriter", "TextOutput")


class OutputSet:
    """All files of one run (:class:`RasterWriter` and :class:`TextOutput`): renamed together
    on success, all removed on any failure.

    Use as a context manager: leaving the block with an exception (a cancel or, in the main
    thread, SIGTERM included) aborts every writer; leaving it normally commits them, all or
    none: when one cannot be put in place, those already moved are taken back and older
    outputs they replaced are restored.
    """

    def __init__(self) -> None:
        self.writers: list[RasterWriter | TextOutput] = []
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


def check_writable(folder: str) -> None:
    """A clear error when ``folder`` cannot be created or written to."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise CloudFillError(f"Cannot create the output folder '{folder}': {e.strerror}.") from None
    if not os.access(folder, os.W_OK):
        raise CloudFillError(f"The output folder '{folder}' is not writable.")
    clean_stale_parts(folder)


_held_lock = threading.Lock()
_held: dict[str, list] = {}  # real folder path -> [thread id, depth]


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
    The same thread may nest the lock (the QGIS algorithm and the engine both take it). A
    folder the lock created is removed again when the block leaves it empty.
    """
    created = not os.path.isdir(folder)
    check_writable(folder)
    key = os.path.realpath(folder)
    me = threading.get_ident()
    with _held_lock:
        held = _held.get(key)
        nested = held is not None and held[0] == me
        if nested:
            held[1] += 1
    if nested:
        try:
            yield
        finally:
            with _held_lock:
                _held[key][1] -= 1
        return
    path = os.path.join(folder, LOCK_NAME)
    token = _take_lock(path, folder)
    with _held_lock:
        _held[key] = [me, 1]
    try:
        clean_stale_parts(folder)
        yield
    finally:
        with _held_lock:
            _held.pop(key, None)
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
            raise CloudFillError(f"Cannot lock the output folder '{folder}': {e.strerror}.") from None
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
