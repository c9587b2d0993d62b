"""Spectral indices a parcel's season is followed by, on surface reflectance.

Each index names the Sentinel-2 bands it needs and how they combine; a pixel whose index is not
defined (a zero denominator) has no value. Single bands are indices too (their reflectance).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .model.config import S2_BANDS


def _normalised_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total != 0, (a - b) / total, np.nan)


def _evi(nir: np.ndarray, red: np.ndarray, blue: np.ndarray) -> np.ndarray:
    total = nir + 6.0 * red - 7.5 * blue + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total != 0, 2.5 * (nir - red) / total, np.nan)


@dataclass(frozen=True)
class Index:
    """An index: its name (the table's column prefix), the bands it reads, in the order
    ``formula`` takes them, and how it is written in the help."""

    name: str
    bands: tuple[str, ...]
    formula: Callable[..., np.ndarray]
    text: str

    def compute(self, reflectance: dict[str, np.ndarray]) -> np.ndarray:
        """The index (float64, NaN where undefined) from reflectance arrays keyed by band."""
        return self.formula(*(reflectance[b].astype(np.float64) for b in self.bands))


INDICES: dict[str, Index] = {
    "NDVI": Index("NDVI", ("B08", "B04"), _normalised_difference, "(B08 - B04) / (B08 + B04)"),
    "NDWI": Index("NDWI", ("B03", "B08"), _normalised_difference,
                  "(B03 - B08) / (B03 + B08), McFeeters' water index"),
    "EVI": Index("EVI", ("B08", "B04", "B02"), _evi,
                 "2.5 (B08 - B04) / (B08 + 6 B04 - 7.5 B02 + 1)"),
    "NDRE": Index("NDRE", ("B08", "B05"), _normalised_difference,
                  "(B08 - B05) / (B08 + B05), red edge"),
    "NDMI": Index("NDMI", ("B08", "B11"), _normalised_difference,
                  "(B08 - B11) / (B08 + B11), moisture"),
    **{b: Index(b, (b,), lambda x: x, f"{b} reflectance") for b in S2_BANDS},
}
#: The index the parcel series takes unless told otherwise.
DEFAULT_INDEX = "NDVI"


def index_positions(bands: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """The indices computable from these bands (a model's), each with its bands' positions."""
    return {name: tuple(bands.index(b) for b in idx.bands) for name, idx in INDICES.items()
            if all(b in bands for b in idx.bands)}
