"""Cloud masks: from Sentinel-2 scene classification, from 0/1 rasters, and synthetic.

A mask is a boolean array, True where the pixel is *missing* (cloud, shadow, cirrus or no
data) and must be filled.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

#: Default growth of SCL clouds and shadows, in 10 m pixels, for Prepare, Reconstruct and Train
#: alike (SCL misses hazy cloud rims, and the fill spreads what clear pixels next to a cloud say
#: into it). Measured on the real WorldCereal seasons (scripts/cloud_buffer.py, 31 partly cloudy
#: dates): clear pixels 1, 2, 3 px from an SCL cloud differ from their temporal interpolation
#: 4.1x, 2.8x, 1.8x as much as pixels far from clouds (haze, edges), 4 px 1.4x, 5 px 1.2x; each
#: ring costs about 5 % of the clear pixels.
DEFAULT_CLOUD_BUFFER = 3
#: SCL classes that are grown by the cloud buffer: cloud shadow, cloud medium/high, thin cirrus
#: (not "no data", nor classes a user adds).
GROWN_CLASSES = (3, 8, 9, 10)

#: Sentinel-2 L2A scene classification (SCL) classes, named for help texts and messages.
SCL_CLASS_NAMES: dict[int, str] = {
    0: "no data", 1: "saturated or defective", 2: "dark features", 3: "cloud shadow",
    4: "vegetation", 5: "not vegetated", 6: "water", 7: "unclassified",
    8: "cloud, medium probability", 9: "cloud, high probability", 10: "thin cirrus", 11: "snow"}

#: SCL classes treated as missing by default, in Prepare, Reconstruct, Train and the date table:
#: no data, cloud shadow, cloud medium and high probability, thin cirrus.
DEFAULT_SCL_MISSING: tuple[int, ...] = (0, 3, 8, 9, 10)


def describe_scl_classes(classes: Iterable[int]) -> str:
    """'3 (cloud shadow), 8 (...) and 10 (thin cirrus)': help texts built from the constants
    they describe, so they cannot drift from them."""
    parts = [f"{c} ({SCL_CLASS_NAMES[c]})" for c in classes]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else "".join(parts)


def scl_to_mask(scl: np.ndarray, classes: tuple[int, ...] = DEFAULT_SCL_MISSING) -> np.ndarray:
    """True where the scene classification is one of ``classes``."""
    return np.isin(scl, np.asarray(classes, dtype=scl.dtype if scl.dtype.kind in "iu" else None))


def scl_missing(scl: np.ndarray, classes: Iterable[int], buffer_px: int,
                grown_classes: Iterable[int] = GROWN_CLASSES) -> np.ndarray:
    """True where the SCL is one of ``classes``, those also in ``grown_classes`` (clouds and
    shadows) grown by ``buffer_px`` pixels. On a window, read it with a margin of
    ``buffer_px`` and crop after: the crop of the whole raster's mask, however it is cut."""
    classes, grown_classes = tuple(classes), set(grown_classes)
    grown = tuple(c for c in classes if c in grown_classes)
    other = tuple(c for c in classes if c not in grown_classes)
    return dilate(scl_to_mask(scl, grown), buffer_px) | scl_to_mask(scl, other)


def binary_to_mask(values: np.ndarray) -> np.ndarray:
    """A 0/1 cloud raster: 1 (any non-zero) is cloud."""
    return np.nan_to_num(values) != 0


def looks_like_scl(values: np.ndarray, description: str = "") -> bool:
    """SCL when the band says so, or when it holds classes beyond 0 and 1."""
    if "scl" in description.lower() or "scene" in description.lower():
        return True
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    return finite.size > 0 and float(finite.max()) > 1


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


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow a (..., H, W) boolean mask by ``pixels`` (square structuring element)."""
    out = mask.copy()
    for _ in range(pixels):
        grown = out.copy()
        grown[..., 1:, :] |= out[..., :-1, :]
        grown[..., :-1, :] |= out[..., 1:, :]
        grown[..., :, 1:] |= out[..., :, :-1]
        grown[..., :, :-1] |= out[..., :, 1:]
        grown[..., 1:, 1:] |= out[..., :-1, :-1]
        grown[..., :-1, :-1] |= out[..., 1:, 1:]
        grown[..., 1:, :-1] |= out[..., :-1, 1:]
        grown[..., :-1, 1:] |= out[..., 1:, :-1]
        out = grown
    return out


def synthetic_cloud_masks(dates: int, height: int, width: int, cloud_count: int,
                          seed: int | np.random.Generator, **kw) -> np.ndarray:
    """Independent synthetic masks for each date: (dates, height, width), seeded."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return np.stack([synthetic_cloud_mask(height, width, cloud_count, rng, **kw)
                     for _ in range(dates)])
