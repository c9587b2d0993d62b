"""How much of each date is missing (cloudy or no data), scanned before anything is filled.

:func:`scan_missing` reads the masks of all dates in parallel, block-aligned and cancellably,
and counts on the way the pixels missing on every date (:func:`warn_never_clear` tells the
user: there is nothing to fill those from).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

import numpy as np

from ..progress import Feedback
from ..workers import available_cores
from .stack import Stack


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


#: Clear pixels per date (about) whose values give its level (:attr:`MissingScan.levels`), and
#: the fewest that give one (a few odd pixels at a cloud's edge are no level).
LEVEL_SAMPLES, LEVEL_MIN_PIXELS = 20000, 25


@dataclass
class MissingScan:
    """What :func:`scan_missing` found.

    Attributes:
        fractions: per MSI date, the share of its pixels that are missing.
        never_clear: how many pixels are missing on every MSI date, of ``pixels`` in all.
            Those have nothing to fill from: the fill makes them up, so the user must hear of
            them (a no-data strip at a swath edge, an area outside the footprint).
        pixels: the raster's pixel count.
        levels: per MSI date, the median reflectance of each model band over a sample of its
            clear pixels (None when it has none): a date on another scale than its neighbours
            shows here (:func:`..fill_checks.check_levels`).
    """

    fractions: list[float]
    never_clear: int
    pixels: int
    levels: list[np.ndarray | None] = field(default_factory=list)


def scan_missing(stack: Stack, feedback: Feedback, workers: int | None = None) -> MissingScan:
    """The share of missing pixels of each MSI date of ``stack``, scanned in parallel and
    cancellably, and the pixels missing on every date counted exactly on the way; each date's
    level from a regular sample of its clear pixels.

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

    step = max(1, int((width * height / LEVEL_SAMPLES) ** 0.5))
    samples: list[list[np.ndarray]] = [[] for _ in stack.msi]

    def count(t: int) -> int:
        block = stack.msi[t].block_size
        total = 0
        for x, y, w, h in scan_blocks(width, height, block):
            if stop.is_set():
                return -1
            raw = stack.msi[t].read(x, y, w, h).reshape(-1, h, w)
            missing = stack.read_missing(t, x, y, w, h, raw)
            total += int(missing.sum())
            with lock:
                everywhere[y:y + h, x:x + w] &= missing
            clear = raw[:, ::step, ::step][:, ~missing[::step, ::step]]
            if clear.size:
                samples[t].append(clear)
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
    levels = [np.median(stack.to_reflectance(np.concatenate(found, 1)[:, :, None], t), (1, 2))
              if sum(a.shape[1] for a in found) >= LEVEL_MIN_PIXELS else None
              for t, found in enumerate(samples)]
    return MissingScan([f.result() / pixels for f in futures], never_clear, pixels, levels)


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
        f"{'have' if n != 1 else 'has'} no clear value on any of the {len(scan.fractions)} MSI dates (for "
        "example a no-data strip at the swath edge, or an area outside the satellite's "
        "footprint): there is nothing to fill them from, so they are filled with made-up values "
        "(the date's mean reflectance or the model's guess) and marked in each '_filled_mask' "
        "output. Clip the inputs to the area the images cover to leave them out.")
