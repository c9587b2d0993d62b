"""Prepare's Sentinel-1 side: rasters grouped by date, written in dB on the output grid.

Each date's ``S1_<YYYYMMDD>.tif`` holds VV and VH in dB (Float32, NaN no data), whatever the
source's units (linear power, dB, scaled integers: :mod:`..read.encodings`).
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from osgeo import gdal

from ..errors import CloudFillError
from ..progress import Feedback
from ..read.dates import date_from_file
from ..read.encodings import linear_to_db, looks_linear, sar_dn_scale
from ..read.raster import canonical_band
from ..write.output_set import OutputSet
from ..write.raster import RasterWriter
from .grid import Grid, covers, footprint, warp_band


@dataclass
class PreparedSar:
    date: dt.date
    path: str
    sources: list[str]
    orbit_direction: str = ""
    units: str = "dB"


_POL = re.compile(r"(?<![A-Z])(VV|VH)(?![A-Z])")
_ORBIT = re.compile(r"(?<![A-Z])(ASC|DESC|ASCENDING|DESCENDING)(?![A-Z])")


def group_sar(paths: list[str]) -> dict[dt.date, list[tuple[str, dict]]]:
    """Files by date, each with what it holds: {'bands': {'VV': n, 'VH': n}, 'orbit': ...}."""
    groups: dict[dt.date, list[tuple[str, dict]]] = defaultdict(list)
    for path in paths:
        if not os.path.exists(path):
            raise CloudFillError(f"Sentinel-1 raster '{path}' does not exist.")
        try:
            ds = gdal.Open(path)
        except RuntimeError as e:
            raise CloudFillError(f"Cannot read Sentinel-1 raster '{path}': {e}") from None
        md = ds.GetMetadata() or {}
        date = date_from_file(path, md)
        if date is None:
            raise CloudFillError(f"Sentinel-1 raster '{path}' has no date in its name or "
                                 "metadata (YYYYMMDD or YYYY-MM-DD in the file name).")
        names = [canonical_band(ds.GetRasterBand(i + 1).GetDescription() or "")
                 for i in range(ds.RasterCount)]
        stem = os.path.basename(path).upper()
        bands: dict[str, int] = {}
        for i, n in enumerate(names):
            if n in ("VV", "VH"):
                bands[n] = i + 1
        if not bands:
            pols = _POL.findall(stem)
            if ds.RasterCount >= 2:
                bands = {"VV": 1, "VH": 2}
            elif len(set(pols)) == 1:
                bands = {pols[0]: 1}
            else:
                raise CloudFillError(
                    f"Sentinel-1 raster '{path}' has one band and no polarisation in its band "
                    "description or file name: name it ..._VV_... or ..._VH_..., or give one "
                    "file with both bands (VV first).")
        text = " ".join(f"{k}={v}" for k, v in md.items()).upper() + " " + stem
        orbit = _ORBIT.search(text)
        info = {"bands": bands, "orbit": ("ASCENDING" if orbit and orbit.group(1).startswith("A")
                                          else "DESCENDING" if orbit else ""),
                "type": ds.GetRasterBand(1).DataType,
                "scale": ds.GetRasterBand(1).GetScale(), "units": md.get("UNITS", "")}
        ds = None
        groups[date].append((path, info))
    for date, files in groups.items():
        pols = [p for _, info in files for p in info["bands"]]
        for pol in ("VV", "VH"):
            if pol not in pols:
                raise CloudFillError(
                    f"Sentinel-1 of {date.isoformat()} "
                    f"({', '.join(os.path.basename(f) for f, _ in files)}) has no {pol} band: "
                    "give VV and VH, in one file or two.")
    return groups


def prepare_sar_date(date: dt.date, files: list[tuple[str, dict]], grid: Grid, folder: str,
                     outputs: OutputSet, feedback: Feedback) -> PreparedSar | None:
    """Write ``S1_<YYYYMMDD>.tif`` (VV, VH in dB on ``grid``) from one date's ``files``
    (:func:`group_sar`); None when none of them covers the grid."""
    out = np.full((2, grid.height, grid.width), np.nan, np.float32)
    any_cover = False
    units_seen = set()
    for path, info in files:
        if not covers(footprint(path, grid), grid):
            continue
        any_cover = True
        for k, pol in enumerate(("VV", "VH")):
            if pol not in info["bands"]:
                continue
            integer = gdal.GetDataTypeName(info["type"]).lower().startswith(("int", "uint", "byte"))
            data = warp_band(path, info["bands"][pol], grid, "bilinear", float("nan")
                              if not integer else None, gdal.GDT_Float32)
            if integer:
                db = data * sar_dn_scale(info["scale"])
                units_seen.add("dB")
            else:
                linear = info["units"].lower() not in ("db", "decibel") and looks_linear(data)
                units_seen.add("linear" if linear else "dB")
                db = linear_to_db(data) if linear else data
            fill = np.isnan(out[k])
            out[k][fill] = db[fill]
    if not any_cover or np.isnan(out).all():
        return None
    orbit = next((i["orbit"] for _, i in files if i["orbit"]), "")
    units = "/".join(sorted(units_seen))
    md = {"ACQUISITION_DATE": date.isoformat(), "UNITS": "dB", "SOURCE_UNITS": units,
          "SOURCE": "; ".join(os.path.basename(f) for f, _ in files),
          "ATTRIBUTION": f"Contains modified Copernicus Sentinel data {date.year}"}
    if orbit:
        md["ORBIT_DIRECTION"] = orbit
    path = os.path.join(folder, f"S1_{date.strftime('%Y%m%d')}.tif")
    w = outputs.add(RasterWriter(path, grid.info(path, ["VV", "VH"], gdal.GDT_Float32,
                                                   float("nan"), md)))
    w.write(0, 0, out[:2])
    w.close()
    feedback.info(f"Sentinel-1 {date.isoformat()}: {units} -> dB"
                  + (f", {orbit.lower()} orbit" if orbit else ", orbit direction unknown") + ".")
    return PreparedSar(date, path, [f for f, _ in files], orbit, units)
