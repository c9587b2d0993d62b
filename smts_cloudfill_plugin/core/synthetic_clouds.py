"""Synthetic clouds, as in the authors' code (PAPER.md, Training): hidden over clear pixels to
make training samples and the self-check's held-back pixels, so that both hide the same kind of
cloud. Reading real masks is :mod:`.read.clouds`'s job.
"""
from __future__ import annotations

import numpy as np


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with reflected borders (numpy only, small images)."""
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    out = image.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(out, [(r, r) if a == axis else (0, 0) for a in (0, 1)], mode="reflect")
        n = out.shape[axis]
        out = sum(k[i] * np.take(padded, np.arange(i, i + n), axis=axis) for i in range(len(k)))
    return out


def synthetic_cloud_mask(height: int, width: int, cloud_count: int, rng: np.random.Generator,
                         cloud_size: float = 0.3, sigma: float = 2.0,
                         threshold: float = 0.5) -> np.ndarray:
    """One date's synthetic cloud mask, as in the authors' code (PAPER.md, Training).

    For each of ``cloud_count`` clouds: a random centre; a box of side ``cloud_size`` x image
    side filled with uniform noise, Gaussian-smoothed (``sigma``) and thresholded; the mask is
    the union of all clouds.
    """
    mask = np.zeros((height, width), dtype=bool)
    bh = max(1, int(round(cloud_size * height)))
    bw = max(1, int(round(cloud_size * width)))
    for _ in range(cloud_count):
        cy, cx = rng.integers(0, height), rng.integers(0, width)
        blob = gaussian_smooth(rng.random((bh, bw)), sigma) > threshold
        y0, x0 = cy - bh // 2, cx - bw // 2
        ys, xs = slice(max(y0, 0), min(y0 + bh, height)), slice(max(x0, 0), min(x0 + bw, width))
        mask[ys, xs] |= blob[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
    return mask


class CloudBank:
    """Fast synthetic clouds for training: the same blobs as :func:`synthetic_cloud_mask`
    (uniform noise, Gaussian blur, threshold), made once and pasted at random centres with
    random flips and rotations. The per-sample numpy blur took about 60 % of a training step.
    """

    def __init__(self, side: int, count: int = 512, seed: int = 12345, cloud_size: float = 0.3,
                 sigma: float = 2.0, threshold: float = 0.5) -> None:
        rng = np.random.default_rng(seed)
        b = max(1, int(round(cloud_size * side)))
        self.side, self.box = side, b
        self.blobs = np.stack([gaussian_smooth(rng.random((b, b)), sigma) > threshold
                               for _ in range(count)])

    def mask(self, cloud_count: int, rng: np.random.Generator) -> np.ndarray:
        """One date's mask of ``cloud_count`` clouds, (side, side)."""
        s, b = self.side, self.box
        canvas = np.zeros((s + b, s + b), dtype=bool)   # a margin of b // 2 on each side
        picks = rng.integers(0, len(self.blobs), cloud_count)
        centres = rng.integers(0, s, (cloud_count, 2))
        turns = rng.integers(0, 4, cloud_count)
        for i, (cy, cx), k in zip(picks, centres, turns):
            canvas[cy:cy + b, cx:cx + b] |= np.rot90(self.blobs[i], k)
        o = b // 2
        return canvas[o:o + s, o:o + s]


_BANKS: dict[int, CloudBank] = {}


def cloud_bank(side: int) -> CloudBank:
    """The shared :class:`CloudBank` for windows of ``side`` pixels."""
    if side not in _BANKS:
        _BANKS[side] = CloudBank(side)
    return _BANKS[side]


def synthetic_cloud_masks(dates: int, height: int, width: int, cloud_count: int,
                          seed: int | np.random.Generator, **kw) -> np.ndarray:
    """Independent synthetic masks for each date: (dates, height, width), seeded."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return np.stack([synthetic_cloud_mask(height, width, cloud_count, rng, **kw)
                     for _ in range(dates)])
