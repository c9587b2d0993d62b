"""Which file band holds each of the model's bands, date by date.

By description when a file names its bands (each date on its own: a later date may hold them in
another order), else by position (an unnamed later date is taken to be laid out like the first).
"""
from __future__ import annotations

from ..errors import CloudFillError
from .raster import RasterInfo, canonical_band


def match_bands(dates: list[RasterInfo], bands: tuple[str, ...] | None
                ) -> tuple[tuple[str, ...], list[list[int]]]:
    """The model's band names (``bands``, or the first date's own when None) and, for each
    date, the file band index (from 0) of each of them."""
    ref = dates[0]
    if bands is None:
        names = [canonical_band(d) for d in ref.descriptions]
        bands = tuple(n or f"band {i + 1}" for i, n in enumerate(names))
        if ref.band_names is None:
            return bands, [list(range(ref.band_count)) for _ in dates]
    wanted = [canonical_band(b) for b in bands]
    first = bands_of(ref, wanted)
    return bands, [first] + [bands_of(info, wanted, first) for info in dates[1:]]


def bands_of(info: RasterInfo, wanted: list[str], like: list[int] | None = None) -> list[int]:
    """The file band index of each ``wanted`` band in ``info``: by name, else ``like`` (the
    first date's), else by position when the count fits."""
    names = info.band_names
    if names is not None:
        missing = [w for w in wanted if w not in names]
        if missing:
            raise CloudFillError(
                f"'{info.name}' has bands {', '.join(names)} but the model needs "
                f"{', '.join(wanted)} (missing: {', '.join(missing)}).")
        return [names.index(w) for w in wanted]
    if like is not None:
        return list(like)
    if info.band_count != len(wanted):
        raise CloudFillError(
            f"'{info.name}' has {info.band_count} bands without names, but the model needs "
            f"{len(wanted)} bands ({', '.join(wanted)}): give the bands descriptions or "
            f"use a raster with exactly these bands in this order.")
    return list(range(len(wanted)))
