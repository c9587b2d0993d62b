"""Streaming helpers for reconstruct: flat memory and overlapped reading, whatever the raster size.

- :class:`OrderedWorkers` reads and runs the next blocks of windows in worker threads (each with
  its own opened stack, :class:`PerThread`) while the caller blends and writes the previous
  ones in order (GDAL, numpy and torch release the GIL while they work).
- :class:`BlockRowWriter` collects finished rows and gives them to GDAL one output block-row
  (256 rows when tiled) at a time, flushing each, so neither it nor GDAL's cache ever holds
  more than one block-row of an output; :func:`column_bands` cuts the raster into bands of
  columns on the output's tile boundaries.
- :func:`gdal_cache_limit` and :func:`working_set` hold GDAL's block cache near what a band
  needs (by default it grows to 5 % of the RAM); :class:`MemoryTrimmer` hands freed heap
  memory back to the system.
- :func:`cloud_fractions` scans the masks of all dates in parallel, block-aligned, cancellably,
  counting the pixels missing on every date (:func:`warn_never_clear` tells the user).
- :func:`check_disk_space` refuses a run whose outputs would not fit.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import numpy as np
from osgeo import gdal

from .errors import CloudFillError
from .progress import Feedback

T = TypeVar("T")
R = TypeVar("R")

#: Compressed GeoTIFF output is estimated at this share of its uncompressed size (DEFLATE with a
#: predictor usually does better on Sentinel-2 reflectance; the filled-pixel masks far better).
COMPRESSED_SHARE = 0.6


def _malloc_trim():
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_trim = _malloc_trim()


class MemoryTrimmer:
    """Hands freed heap memory back to the system now and then (glibc only).

    Blocks are allocated in worker threads and freed in the caller's; glibc keeps such freed
    memory in its per-thread arenas, and the resident size creeps up with the raster. Calling
    ``malloc_trim`` every ``interval`` seconds keeps it flat at a cost of well under 1 %.
    """

    def __init__(self, interval: float = 2.0) -> None:
        self.interval, self.last = interval, time.monotonic()

    def __call__(self, force: bool = False) -> None:
        now = time.monotonic()
        if _trim is not None and (force or now - self.last >= self.interval):
            _trim(0)
            self.last = time.monotonic()


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class OrderedWorkers:
    """``fn(item)`` for each item on ``workers`` threads, at most ``ahead`` items in flight;
    results come back in item order.

    Use as a context manager and iterate :meth:`results`. ``fn`` should return early when
    :attr:`stop` is set. Leaving the block (a cancel, an error) sets :attr:`stop`, drops the
    items not started and waits for the ones running, so the caller may close what ``fn`` reads
    right after. An exception in ``fn`` is raised in the caller's thread when its item comes up.
    """

    def __init__(self, fn: Callable[[T], R], items: Iterable[T], workers: int = 1,
                 ahead: int = 2) -> None:
        self.fn, self.items = fn, iter(items)
        self.ahead = max(1, ahead)
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="smts-work")
        self._pending: deque = deque()

    def _submit(self) -> None:
        for item in self.items:
            self._pending.append((item, self._pool.submit(self.fn, item)))
            return

    def results(self, poll: Callable[[], None] = lambda: None,
                interval: float = 0.1) -> Iterator[tuple[T, R]]:
        """Yield (item, fn(item)) in order; call ``poll`` every ``interval`` s while waiting
        (e.g. ``feedback.check``, which raises on a cancel)."""
        for _ in range(self.ahead):
            self._submit()
        while self._pending:
            item, future = self._pending[0]
            while True:
                poll()
                try:
                    result = future.result(timeout=interval)
                    break
                except FutureTimeout:
                    continue
            self._pending.popleft()
            self._submit()
            yield item, result

    def close(self) -> None:
        self.stop.set()
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "OrderedWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PerThread:
    """One object per thread, made by ``factory`` on first use; :meth:`close` closes them all."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self._local = threading.local()
        self._made: list = []
        self._lock = threading.Lock()

    def get(self) -> T:
        obj = getattr(self._local, "obj", None)
        if obj is None:
            obj = self._local.obj = self.factory()
            with self._lock:
                self._made.append(obj)
        return obj

    def close(self) -> None:
        with self._lock:
            for obj in self._made:
                obj.close()
            self._made.clear()


class BlockRowWriter:
    """Buffers rows of columns [x0, x1) of a GDAL dataset and writes them block-row by block-row.

    Pieces arrive with :meth:`put` anywhere in the rows not yet written; :meth:`rows_done` says
    that all rows above ``y`` are complete. A block-row (the dataset's block height, e.g. 256
    rows of a tiled GeoTIFF) is written as soon as it is complete, and flushed column group by
    column group. With ``x0`` and ``x1`` on block boundaries (or the raster's edge), GDAL
    compresses each tile once, never holds partial tiles, and its cache never fills with output.
    """

    def __init__(self, ds: gdal.Dataset, dtype: np.dtype, max_piece_rows: int,
                 x0: int = 0, x1: int | None = None, flush_columns: int = 1024) -> None:
        self.ds = ds
        self.bands = ds.RasterCount
        self.height = ds.RasterYSize
        self.x0, self.x1 = x0, ds.RasterXSize if x1 is None else x1
        bw, bh = ds.GetRasterBand(1).GetBlockSize()
        self.block_h = min(bh, self.height)
        self.flush_columns = max(bw, flush_columns // bw * bw)
        self.top = 0   # first row not yet handed to GDAL
        rows = self.block_h + max_piece_rows
        self.buffer = np.zeros((self.bands, rows, self.x1 - self.x0), dtype=dtype)

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
            for i in range(self.bands):
                self.ds.GetRasterBand(i + 1).WriteArray(self.buffer[i, :n, c0:c1], self.x0 + c0,
                                                        self.top)
            self.ds.FlushCache()


def column_bands(width: int, block_width: int, band_width: int) -> list[tuple[int, int]]:
    """Split [0, width) into bands of about ``band_width`` columns on block boundaries; a last
    band narrower than half a band joins the one before."""
    step = max(block_width, band_width // block_width * block_width)
    starts = list(range(0, width, step))
    if len(starts) > 1 and width - starts[-1] < step // 2:
        starts.pop()
    return [(x, starts[i + 1] if i + 1 < len(starts) else width) for i, x in enumerate(starts)]


def scan_blocks(width: int, height: int, block: tuple[int, int], pixels: int = 1 << 18
                ) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) regions covering the raster, made of whole blocks of ``block`` (bx, by),
    about ``pixels`` each: every block of the file is read once, whatever GDAL's cache."""
    bx, by = max(1, min(block[0], width)), max(1, min(block[1], height))
    nx = max(1, min(-(-width // bx), int((pixels / (bx * by)) ** 0.5) or 1))
    ny = max(1, pixels // (nx * bx * by))
    w, h = nx * bx, ny * by
    return [(x, y, min(w, width - x), min(h, height - y))
            for y in range(0, height, h) for x in range(0, width, w)]


@contextlib.contextmanager
def gdal_cache_limit(limit: int):
    """Lower GDAL's block cache to ``limit`` bytes for the block (never raise it).

    GDAL keeps every block it reads until its cache (by default 5 % of the RAM) is full; on a
    big raster that alone would make memory grow with the raster. The blocks reconstruct still
    needs are the most recently used ones, so a cap a little above that working set costs no
    re-reading. The cap is process-wide: nested or concurrent runs restore the original value
    when the last one ends.
    """
    with _cache_lock:
        if not _cache_users:
            _cache_saved.append(gdal.GetCacheMax())
        _cache_users.append(limit)
        gdal.SetCacheMax(min(_cache_saved[0], max(_cache_users)))
    try:
        yield
    finally:
        with _cache_lock:
            _cache_users.remove(limit)
            gdal.SetCacheMax(min(_cache_saved[0], max(_cache_users)) if _cache_users
                             else _cache_saved.pop())


_cache_lock = threading.Lock()
_cache_users: list[int] = []
_cache_saved: list[int] = []


def working_set(datasets: Sequence[gdal.Dataset], columns: int, rows: int) -> int:
    """Bytes of the blocks of ``datasets`` that cover ``columns`` x ``rows`` px (plus a block
    either side): what GDAL's cache must hold for a band of windows to be read once."""
    total = 0
    for ds in datasets:
        band = ds.GetRasterBand(1)
        bx, by = band.GetBlockSize()
        px = sum(gdal.GetDataTypeSize(ds.GetRasterBand(i + 1).DataType) // 8
                 for i in range(ds.RasterCount))
        cols = min(ds.RasterXSize, (-(-columns // bx) + 1) * bx)
        total += cols * min(ds.RasterYSize, by + rows) * px
    return total


class MissingScan(list):
    """Per-date missing fractions (a plain ``list[float]``, as callers always had) and
    ``never_clear``: how many pixels are missing on every MSI date, of ``pixels`` in all.

    Those pixels have nothing to fill from: the fill makes them up, so the user must hear of
    them (a no-data strip at a swath edge, an area outside the footprint)."""

    def __init__(self, fractions: Iterable[float], never_clear: int, pixels: int) -> None:
        super().__init__(fractions)
        self.never_clear = never_clear
        self.pixels = pixels


def cloud_fractions(stack, feedback: Feedback, workers: int | None = None) -> MissingScan:
    """:meth:`Stack.cloud_fractions`, with the dates scanned in parallel and cancellable, and
    the pixels missing on every date counted exactly on the way (:class:`MissingScan`).

    Each date is read in regions of whole blocks of its file (so no block is decoded twice)
    by one thread at a time (GDAL datasets are not shared between threads); the caller's
    thread checks ``feedback`` every 0.1 s and stops the others on a cancel. The pixels missing
    on every date are one shared (H, W) bool map that each date ANDs its missing mask into:
    under a lock, since two dates' threads may update the same region and an unlocked
    read-modify-write could lose a date's False (and count a pixel that was clear there).
    """
    width, height = stack.width, stack.height
    stop = threading.Event()
    everywhere = np.ones((height, width), dtype=bool)   # missing on every date scanned so far
    lock = threading.Lock()

    def count(t: int) -> int:
        block = stack.msi[t]._ds.GetRasterBand(1).GetBlockSize()  # type: ignore[attr-defined]
        total = 0
        for x, y, w, h in scan_blocks(width, height, block):
            if stop.is_set():
                return -1
            missing = stack.read_missing(t, x, y, w, h)
            total += int(missing.sum())
            with lock:
                everywhere[y:y + h, x:x + w] &= missing
        return total

    n = len(stack.msi)
    workers = max(1, min(workers or available_cores(), n))
    with ThreadPoolExecutor(workers, thread_name_prefix="smts-scan") as pool:
        futures = [pool.submit(count, t) for t in range(n)]
        try:
            for f in futures:
                while True:
                    try:
                        f.result(timeout=0.1)
                        break
                    except FutureTimeout:
                        feedback.check()
        except BaseException:
            stop.set()
            for f in futures:
                f.cancel()
            raise
    pixels = width * height
    never_clear = int(np.count_nonzero(everywhere)) if n else 0
    return MissingScan((f.result() / pixels for f in futures), never_clear, pixels)


def warn_never_clear(scan: MissingScan, feedback: Feedback) -> None:
    """Warn when some pixels are missing on every MSI date: the fill has no clear value to
    take there and invents one, which looks like data on the map unless the user is told."""
    if not scan.never_clear:
        return
    n = scan.never_clear
    share = 100 * n / scan.pixels
    share_text = f"{share:.1f} %" if share >= 0.1 else "less than 0.1 %"
    feedback.warn(
        f"{n} pixel{'s' if n != 1 else ''} ({share_text} of the raster) "
        f"{'have' if n != 1 else 'has'} no clear value on any of the {len(scan)} MSI dates (for "
        "example a no-data strip at the swath edge, or an area outside the satellite's "
        "footprint): there is nothing to fill them from, so they are filled with made-up values "
        "(the date's mean reflectance or the model's guess) and marked in each '_filled_mask' "
        "output. Clip the inputs to the area the images cover to leave them out.")


def output_bytes(width: int, height: int, bands: int, itemsize: int, dates: int) -> int:
    """Uncompressed size of the filled rasters and their one-byte masks for ``dates`` dates."""
    return dates * width * height * (bands * itemsize + 1)


def check_disk_space(folder: str, width: int, height: int, bands: int, itemsize: int,
                     dates: int) -> None:
    """Refuse, before anything is written, a run whose outputs would not fit on the disk."""
    raw = output_bytes(width, height, bands, itemsize, dates)
    need = COMPRESSED_SHARE * raw
    free = shutil.disk_usage(folder).free
    if need > free:
        raise CloudFillError(
            f"The output for {dates} cloudy date{'s' if dates != 1 else ''} of {width} x {height} "
            f"px needs about {file_size(need)} ({int(COMPRESSED_SHARE * 100)} % of the "
            f"{file_size(raw)} uncompressed; DEFLATE compression usually saves that much), but "
            f"only {file_size(free)} are free in '{folder}'. Free some space or choose another "
            "output folder.")


def file_size(n: float) -> str:
    """Bytes in the unit that shows them, one decimal below 100: '13.2 MB', not '0.01 GB';
    '500 kB', not '0.00 GB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} bytes"


def split_batches(windows: Sequence, batch_size: int, per_chunk: int) -> list[list]:
    """Windows of one row in chunks of whole batches (``per_chunk`` windows, rounded to batches)."""
    step = max(1, -(-per_chunk // batch_size)) * batch_size
    return [list(windows[i:i + step]) for i in range(0, len(windows), step)]
