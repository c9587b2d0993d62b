"""Cloud masks: from Sentinel-2 scene classification, from 0/1 rasters, grown by a buffer.

A mask is a boolean array, True where the pixel is *missing* (cloud, shadow, cirrus or no
data) and must be filled. What a mask file's values mean is decided from its content
(:func:`mask_meaning`), never assumed: a 0/255 mask read as SCL is used upside down.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..errors import CloudFillError

#: Default growth of SCL clouds and shadows, in 10 m pixels, for Prepare, Reconstruct and Train
#: alike (SCL misses hazy cloud rims, and the fill spreads what clear pixels next to a cloud say
#: into it). Measured on the real WorldCereal seasons (scripts/cloud_buffer.py, 31 partly cloudy
#: dates): clear pixels 1, 2, 3 px from an SCL cloud differ from their temporal interpolation
#: 4.1x, 2.8x, 1.8x as much as pixels far from clouds (haze, edges), 4 px 1.4x, 5 px 1.2x; each
#: ring costs about 5 % of the clear pixels.
DEFAULT_CLOUD_BUFFER = 3
#: SCL classes that are grown by the cloud buffer: cloud shadow, cloud medium/high, thin cirrus,
#: snow (most often a bright cloud, see DEFAULT_SCL_MISSING); not "no data", nor classes a user
#: adds.
GROWN_CLASSES = (3, 8, 9, 10, 11)

#: Sentinel-2 L2A scene classification (SCL) classes, named for help texts and messages.
SCL_CLASS_NAMES: dict[int, str] = {
    0: "no data", 1: "saturated or defective", 2: "dark features", 3: "cloud shadow",
    4: "vegetation", 5: "not vegetated", 6: "water", 7: "unclassified",
    8: "cloud, medium probability", 9: "cloud, high probability", 10: "thin cirrus", 11: "snow"}

#: SCL classes treated as missing by default, in Prepare, Reconstruct, Train and the date table:
#: no data, cloud shadow, cloud medium and high probability, thin cirrus, and snow. In the real
#: Flanders seasons every "snow" pixel is a cloud the classifier took for snow (2018-09-23 and
#: 2018-11-12 whole scenes, 2019-09-28 30 %, 2017-12-12 12 %; blue reflectance 0.57-0.65 where
#: crops and soil stay below 0.15); and where snow does lie, a crop under it is hidden as under a
#: cloud. Leaving it out put clouds in the fills' inputs and in the evaluation's truth.
DEFAULT_SCL_MISSING: tuple[int, ...] = (0, 3, 8, 9, 10, 11)


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
    """A two-valued cloud raster (0/1, 0/255, ...): any non-zero value is cloud."""
    return np.nan_to_num(values) != 0


#: The kinds of cloud mask :func:`mask_meaning` tells apart: Sentinel-2 scene classes, a
#: two-valued mask (0 clear, the other value cloud) and a cloud probability (fractions 0..1).
SCL, BINARY, PROBABILITY = "scl", "binary", "probability"
#: A cloud probability counts as cloudy above this.
CLOUD_PROBABILITY = 0.5


@dataclass(frozen=True)
class MaskMeaning:
    """What a cloud mask's values mean, decided from its content by :func:`mask_meaning`.

    Attributes:
        kind: :data:`SCL`, :data:`BINARY` or :data:`PROBABILITY`.
        low, high: the smallest and largest value found (no data left out).
        cloud: for a two-valued mask, the value that marks clouds (1, 255, ...).
    """

    kind: str
    low: float = 0.0
    high: float = 0.0
    cloud: float | None = None

    @property
    def is_scl(self) -> bool:
        return self.kind == SCL

    def describe(self) -> str:
        """How the mask is read, in words for the log."""
        if self.kind == SCL:
            return "Sentinel-2 scene classification (SCL)"
        if self.kind == PROBABILITY:
            return (f"cloud probability ({self.low:g} to {self.high:g}), cloudy above "
                    f"{CLOUD_PROBABILITY:g}")
        if self.cloud in (None, 1):
            return "0/1 cloud mask (1 = cloud)"
        return f"cloud mask of 0 and {self.cloud:g} ({self.cloud:g} = cloud, 0 = clear)"

    def missing(self, values: np.ndarray, classes: Iterable[int] = DEFAULT_SCL_MISSING,
                buffer_px: int = 0) -> np.ndarray:
        """True where ``values`` of this mask are missing: SCL ``classes`` (clouds and shadows
        grown by ``buffer_px``), a two-valued mask's non-zero value, a probability above
        :data:`CLOUD_PROBABILITY`."""
        if self.kind == SCL:
            return scl_missing(values, classes, buffer_px)
        if self.kind == PROBABILITY:
            return np.nan_to_num(values) > CLOUD_PROBABILITY
        return binary_to_mask(values)


def mask_meaning(values: np.ndarray, description: str = "", nodata: float | None = None,
                 name: str = "") -> MaskMeaning:
    """What a cloud mask's ``values`` (a thumbnail will do) mean, from what they are.

    - a band described as SCL or scene classification: scene classes (0 to 11);
    - only 0 and 1: a 0/1 mask, 1 = cloud;
    - only 0 and one value above the SCL classes (255, 100, ...): that value is cloud;
    - whole numbers 0 to 11 otherwise: scene classes;
    - fractions between 0 and 1: a cloud probability, cloudy above :data:`CLOUD_PROBABILITY`.

    Anything else (random values, negative values, 0..255 grey levels) is refused with a
    :class:`CloudFillError` naming ``name``: read any other way, a mask fills the wrong pixels
    without a word. The band's no-data value (and NaN) is left out.
    """
    found = np.asarray(values).ravel()
    if found.dtype.kind == "f":
        found = found[np.isfinite(found)]
    if nodata is not None and not np.isnan(nodata):
        found = found[found != nodata]
    named_scl = "scl" in description.lower() or "scene" in description.lower()
    if found.size == 0:
        return MaskMeaning(SCL if named_scl else BINARY)
    distinct = np.unique(found)
    low, high = float(distinct[0]), float(distinct[-1])
    whole = found.dtype.kind in "iub" or bool(np.all(distinct == np.round(distinct)))
    last_class = max(SCL_CLASS_NAMES)
    if whole and low >= 0:
        if named_scl and high <= last_class:
            return MaskMeaning(SCL, low, high)
        if not named_scl and high <= 1:
            return MaskMeaning(BINARY, low, high, 1.0)
        if not named_scl and len(distinct) <= 2 and (low == 0 or len(distinct) == 1) \
                and high > last_class:
            return MaskMeaning(BINARY, low, high, high)
        if high <= last_class:
            return MaskMeaning(SCL, low, high)
    elif not whole and low >= 0 and high <= 1:
        return MaskMeaning(PROBABILITY, low, high)
    what = "whole numbers" if whole else "values"
    found_text = f"{len(distinct)} different {what} from {low:g} to {high:g}" \
        if len(distinct) > 2 else "the values " + " and ".join(f"{v:g}" for v in distinct)
    named = " Its band is named a scene classification, but SCL classes run from 0 to 11." \
        if named_scl else ""
    raise CloudFillError(
        f"Cloud mask '{name}' holds {found_text}: it is neither a "
        f"Sentinel-2 scene classification (SCL, classes 0 to {last_class}), nor a mask of two "
        f"values (0 = clear, 1 or another value = cloud), nor a cloud probability (0 to 1), so "
        f"it cannot be told which pixels are cloudy.{named} Give the date's SCL, or a mask with "
        f"1 where the clouds are and 0 elsewhere.")


def parse_scl_classes(text: str | Iterable[int] | None) -> tuple[int, ...]:
    """'3, 8,9' -> (3, 8, 9): SCL classes as a user writes them (commas, semicolons or
    spaces between); a :class:`CloudFillError` for anything but Sentinel-2's classes 0 to 11.
    One rule for the command line, Reconstruct, Prepare and the library."""
    if text is None:
        return ()
    if isinstance(text, str):
        parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
        bad = [p for p in parts if not p.lstrip("-").isdigit()]
        if bad:
            raise CloudFillError(f"SCL classes '{text}': '{bad[0]}' is not a class number. Give "
                                 "whole numbers separated by commas, for example 3,8,9,10.")
        classes = tuple(int(p) for p in parts)
    else:
        classes = tuple(int(c) for c in text)
    wrong = [c for c in classes if c not in SCL_CLASS_NAMES]
    if wrong:
        raise CloudFillError(f"SCL class {wrong[0]} does not exist: Sentinel-2's scene classes "
                             f"run from 0 to {max(SCL_CLASS_NAMES)}; the default cloudy ones are "
                             f"{describe_scl_classes(DEFAULT_SCL_MISSING)}.")
    return classes


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
