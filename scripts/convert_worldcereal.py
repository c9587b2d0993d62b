#!/usr/bin/env python3
"""Convert one WorldCereal training-extraction site (netCDF) into per-date GeoTIFFs.

The plugin reads ordinary single-date GeoTIFFs (one Sentinel-2 stack, one SCL
mask and one Sentinel-1 stack per date), while the WorldCereal extractions store
whole time series in netCDF files whose georeferencing GDAL does not recognise.
This script bridges the two without changing any pixel value:

* ``msi/S2_<site>_<YYYYMMDD>.tif``: 10 bands (B02 B03 B04 B05 B06 B07 B08 B8A
  B11 B12), UInt16 DN (reflectance = DN * 1e-4), nodata 0, all at 10 m; the
  20 m bands are repeated 2x2 (exact nearest neighbour, nothing invented).
* ``scl/SCL_<site>_<YYYYMMDD>.tif``: the scene classification, UInt8, 10 m.
* ``sar/S1_<site>_<YYYYMMDD>.tif``: VV, VH backscatter in dB (Float32,
  DN * 1e-4), NaN where the source holds its fill value, on the native 20 m
  grid (the plugin does its own resampling).

Row order: the files store rows north-up (``y`` descends) but GDAL's netCDF
driver flips them unless ``GDAL_NETCDF_BOTTOMUP=NO``; the option is set and the
result is checked against the ``y`` variable and a raw multidimensional read.

Usage::

    python scripts/convert_worldcereal.py SITE_DIR OUT_DIR [--start YYYY-MM-DD]
        [--end YYYY-MM-DD] [--window X0 Y0 W H] [--s2-dates D1,D2,...]
        [--s1-dates D1,...] [--list]

Only the standard library, numpy and GDAL's Python bindings are used, so it
runs outside QGIS.
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()

S2_BANDS: Tuple[str, ...] = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
S2_10M_BANDS = frozenset({"B02", "B03", "B04", "B08"})
S1_BANDS: Tuple[str, ...] = ("VV", "VH")
CLOUD_CLASSES: Tuple[int, ...] = (3, 8, 9, 10, 11)  # cloud shadow, cloud medium/high, thin cirrus, snow (a cloud here)
DN_SCALE = 1e-4
INT_OPTIONS = ["COMPRESS=DEFLATE", "PREDICTOR=2"]
# Horizontal differencing (2) is meant for integers; 3 is the floating-point predictor.
FLOAT_OPTIONS = ["COMPRESS=DEFLATE", "PREDICTOR=3"]

Window = Tuple[int, int, int, int]  # x0, y0, width, height in pixels of the grid concerned


class ConvertError(Exception):
    """A problem with the input or the arguments, reported as one line and exit status 2."""


@dataclass
class Grid:
    """North-up grid derived from the ``bounds`` and ``resolution`` attributes."""

    xmin: float
    ymax: float
    res: float
    width: int
    height: int
    epsg: int

    def geotransform(self, x0: int = 0, y0: int = 0) -> Tuple[float, float, float, float, float, float]:
        """Geotransform of a window starting at pixel (x0, y0) of this grid."""
        return (self.xmin + x0 * self.res, self.res, 0.0, self.ymax - y0 * self.res, 0.0, -self.res)


@dataclass
class NcProduct:
    """One netCDF file: its grid, acquisition times and per-variable GDAL datasets."""

    path: str
    grid: Grid
    times: List[dt.datetime]
    site: str
    datasets: Dict[str, gdal.Dataset] = field(default_factory=dict)
    fills: Dict[str, Optional[float]] = field(default_factory=dict)

    def read(self, var: str, t: int, win: Window) -> np.ndarray:
        """Read time index ``t`` of ``var`` in window ``win`` (rows north-up, as stored)."""
        x0, y0, w, h = win
        return self.datasets[var].GetRasterBand(t + 1).ReadAsArray(x0, y0, w, h)


def parse_bounds(text: str) -> Tuple[float, float, float, float]:
    """Parse '(xmin, ymin, xmax, ymax)' or '{...}': the files use both spellings."""
    nums = re.findall(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", text)
    if len(nums) != 4:
        raise ConvertError(f"cannot parse bounds attribute {text!r}")
    xmin, ymin, xmax, ymax = (float(n) for n in nums)
    return xmin, ymin, xmax, ymax


def parse_time_units(units: str) -> dt.datetime:
    """Origin of 'seconds since YYYY-MM-DD[ HH:MM:SS]' (the only unit these files use)."""
    m = re.fullmatch(r"\s*seconds since (\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}:\d{2}:\d{2}(?:\.\d+)?))?\s*(?:UTC|Z)?\s*", units)
    if not m:
        raise ConvertError(f"unsupported timestamp units {units!r} (expected 'seconds since ...')")
    clock = m.group(2) or "00:00:00"
    return dt.datetime.fromisoformat(f"{m.group(1)} {clock}")


def find_file(site_dir: str, pattern: str) -> str:
    """The single file in ``site_dir`` matching ``pattern`` (an error if none or several)."""
    hits = sorted(glob.glob(os.path.join(site_dir, pattern)))
    if not hits:
        raise ConvertError(f"no file matching {pattern} in {site_dir}")
    if len(hits) > 1:
        raise ConvertError(f"several files match {pattern} in {site_dir}: {', '.join(os.path.basename(h) for h in hits)}")
    return hits[0]


def open_product(path: str, variables: Sequence[str]) -> NcProduct:
    """Open ``variables`` of one netCDF file with north-up rows, checking grid and row order.

    The grid comes from global attributes because GDAL reports a meaningless
    pixel-space geotransform for these files.
    """
    gdal.SetConfigOption("GDAL_NETCDF_BOTTOMUP", "NO")
    try:
        mds = gdal.OpenEx(path, gdal.OF_MULTIDIM_RASTER)
    except RuntimeError as exc:
        raise ConvertError(f"cannot open {path}: {exc}") from None
    root = mds.GetRootGroup()
    attrs = {a.GetName(): a.Read() for a in root.GetAttributes()}
    for key in ("bounds", "resolution", "epsg"):
        if key not in attrs:
            raise ConvertError(f"{os.path.basename(path)}: global attribute {key!r} missing")
    bounds = attrs["bounds"]
    xmin, ymin, xmax, ymax = parse_bounds(bounds if isinstance(bounds, str) else str(tuple(bounds)))
    res = float(attrs["resolution"])
    epsg = int(str(attrs["epsg"]).strip())
    width, height = round((xmax - xmin) / res), round((ymax - ymin) / res)
    grid = Grid(xmin, ymax, res, width, height, epsg)

    names = set(root.GetMDArrayNames())
    for needed in ("x", "y", "timestamp", *variables):
        if needed not in names:
            raise ConvertError(f"{os.path.basename(path)}: variable {needed!r} missing")
    xs = root.OpenMDArray("x").ReadAsArray()
    ys = root.OpenMDArray("y").ReadAsArray()
    # The y variable is the ground truth for orientation: first row must be the northernmost.
    if len(ys) != height or len(xs) != width:
        raise ConvertError(f"{os.path.basename(path)}: x/y sizes {len(xs)}x{len(ys)} disagree with bounds/resolution")
    if not (np.all(np.diff(ys) < 0) and np.all(np.diff(xs) > 0)):
        raise ConvertError(f"{os.path.basename(path)}: expected y descending and x ascending")
    if not (np.isclose(ys[0], ymax - res / 2) and np.isclose(xs[0], xmin + res / 2)):
        raise ConvertError(f"{os.path.basename(path)}: x/y centres disagree with the bounds attribute")

    tvar = root.OpenMDArray("timestamp")
    base = parse_time_units(tvar.GetUnit() or "")
    seconds = tvar.ReadAsArray()
    times = [base + dt.timedelta(seconds=float(s)) for s in seconds]
    site = str(attrs.get("location_id") or os.path.basename(os.path.dirname(os.path.abspath(path))))

    prod = NcProduct(path, grid, times, site)
    for var in variables:
        ds = gdal.Open(f'NETCDF:"{path}":{var}')
        if (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) != (width, height, len(times)):
            raise ConvertError(f"{os.path.basename(path)}:{var} has shape {ds.RasterCount}x{ds.RasterYSize}x{ds.RasterXSize}, "
                               f"expected {len(times)}x{height}x{width}")
        prod.datasets[var] = ds
        prod.fills[var] = ds.GetRasterBand(1).GetNoDataValue()  # from _FillValue
    # Guard against the bottom-up trap: the classic read must equal the storage order.
    var0 = variables[0]
    raw = root.OpenMDArray(var0).GetView("[0,:,:]").ReadAsArray()
    if not np.array_equal(prod.read(var0, 0, (0, 0, width, height)), raw):
        raise ConvertError(f"{os.path.basename(path)}: GDAL returned rows in a different order than stored (GDAL_NETCDF_BOTTOMUP ignored?)")
    return prod


def parse_date(text: str) -> dt.date:
    """Parse YYYY-MM-DD (YYYYMMDD is accepted too), raising ConvertError on bad input."""
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ConvertError(f"bad date {text!r} (expected YYYY-MM-DD)")


def parse_date_list(text: Optional[str]) -> Optional[List[dt.date]]:
    """Comma-separated dates; 'none' (or empty) selects no date at all for that sensor."""
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return []
    return [parse_date(t) for t in text.split(",") if t.strip()]


def select_dates(times: Sequence[dt.datetime], label: str, start: Optional[dt.date], end: Optional[dt.date],
                 listed: Optional[List[dt.date]]) -> List[Tuple[int, dt.datetime]]:
    """Pick (time index, time) pairs by range or by explicit list, one per calendar day.

    Output files are named by day, so when two acquisitions fall on the same
    (UTC) day the first is kept and the others reported on stderr.
    """
    by_day: Dict[dt.date, Tuple[int, dt.datetime]] = {}
    for i, t in enumerate(times):
        day = t.date()
        if day in by_day:
            print(f"note: {label} {day} has several acquisitions; keeping {by_day[day][1]:%H:%M:%S}, "
                  f"skipping {t:%H:%M:%S}", file=sys.stderr)
            continue
        by_day[day] = (i, t)
    if listed is not None:
        missing = [d for d in listed if d not in by_day]
        if missing:
            raise ConvertError(f"{label} date(s) not in the data: {', '.join(map(str, missing))}")
        return [by_day[d] for d in sorted(set(listed))]
    return [v for d, v in sorted(by_day.items())
            if (start is None or d >= start) and (end is None or d <= end)]


def upsample2(a: np.ndarray) -> np.ndarray:
    """Nearest-neighbour 20 m -> 10 m: each pixel becomes an exact 2x2 block."""
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


def read_s2(p10: NcProduct, p20: NcProduct, t: int, win10: Window) -> Tuple[np.ndarray, np.ndarray]:
    """The 10-band UInt16 stack and the UInt8 SCL of time index ``t`` on the 10 m window."""
    x0, y0, w, h = win10
    win20 = (x0 // 2, y0 // 2, w // 2, h // 2)
    stack = np.empty((len(S2_BANDS), h, w), dtype=np.uint16)
    for k, band in enumerate(S2_BANDS):
        a = p10.read(band, t, win10) if band in S2_10M_BANDS else upsample2(p20.read(band, t, win20))
        fill = (p10 if band in S2_10M_BANDS else p20).fills[band]
        if fill is not None and fill != 0:
            a = np.where(a == fill, 0, a)  # the output's nodata is 0
        stack[k] = a
    scl = upsample2(p20.read("SCL", t, win20)).astype(np.uint8)
    return stack, scl


def read_s1(p1: NcProduct, t: int, win: Window) -> np.ndarray:
    """VV, VH of time index ``t`` in dB (Float32), NaN where the source has its fill value."""
    out = np.empty((len(S1_BANDS), win[3], win[2]), dtype=np.float32)
    for k, band in enumerate(S1_BANDS):
        dn = p1.read(band, t, win)
        db = (dn.astype(np.float64) * DN_SCALE).astype(np.float32)
        fill = p1.fills[band]
        if fill is not None:
            db[dn == fill] = np.nan
        out[k] = db
    return out


def write_tif(path: str, data: np.ndarray, gdal_type: int, geotransform: Sequence[float], epsg: int,
              descriptions: Sequence[str], nodata: Optional[float], when: dt.datetime,
              options: Sequence[str], extra_md: Optional[Dict[str, str]] = None) -> None:
    """Write a GeoTIFF atomically: build it under a temporary name, then rename.

    An interrupted run therefore never leaves a partial ``.tif`` that the
    plugin could pick up.
    """
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{name}.partial")
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = None
    try:
        ds = gdal.GetDriverByName("GTiff").Create(tmp, data.shape[2], data.shape[1], data.shape[0], gdal_type,
                                                  options=list(options))
        ds.SetGeoTransform(tuple(geotransform))
        ds.SetProjection(srs.ExportToWkt())
        ds.SetMetadataItem("ACQUISITION_DATE", when.strftime("%Y-%m-%d"))
        ds.SetMetadataItem("ACQUISITION_DATETIME", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        ds.SetMetadataItem("TIFFTAG_DATETIME", when.strftime("%Y:%m:%d %H:%M:%S"))
        for key, value in (extra_md or {}).items():
            ds.SetMetadataItem(key, value)
        for k, desc in enumerate(descriptions):
            band = ds.GetRasterBand(k + 1)
            band.SetDescription(desc)
            if nodata is not None:
                band.SetNoDataValue(nodata)
            band.WriteArray(data[k])
        ds.FlushCache()
        ds = None
        os.replace(tmp, path)
    finally:
        ds = None  # close before removing a leftover temporary file
        if os.path.exists(tmp):
            os.remove(tmp)


def s2_fractions(stack: np.ndarray, scl: np.ndarray) -> Tuple[float, float]:
    """(cloud fraction, no-data fraction): SCL in CLOUD_CLASSES; SCL 0 or DN 0 in any band."""
    cloud = np.isin(scl, CLOUD_CLASSES)
    nodata = (scl == 0) | np.any(stack == 0, axis=0)
    return float(cloud.mean()), float(nodata.mean())


def parse_window(values: Optional[Sequence[int]], grid: Grid) -> Window:
    """Validate the 10 m pixel window: even numbers so the 20 m grids align, inside the grid."""
    if values is None:
        return (0, 0, grid.width, grid.height)
    x0, y0, w, h = values
    if any(v % 2 for v in values):
        raise ConvertError(f"--window values must be even so the 20 m pixels align, got {x0} {y0} {w} {h}")
    if x0 < 0 or y0 < 0 or w <= 0 or h <= 0 or x0 + w > grid.width or y0 + h > grid.height:
        raise ConvertError(f"--window {x0} {y0} {w} {h} is outside the {grid.width}x{grid.height} grid")
    return (x0, y0, w, h)


def _check_same_grid(a: NcProduct, b: NcProduct, factor: int) -> None:
    """The coarse grid must cover the same bounds with pixels exactly ``factor`` times larger."""
    ok = (np.isclose(a.grid.xmin, b.grid.xmin) and np.isclose(a.grid.ymax, b.grid.ymax)
          and np.isclose(b.grid.res, a.grid.res * factor)
          and a.grid.width == b.grid.width * factor and a.grid.height == b.grid.height * factor
          and a.grid.epsg == b.grid.epsg)
    if not ok:
        raise ConvertError(f"{os.path.basename(b.path)} does not sit on the 10 m grid of {os.path.basename(a.path)}")


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = _Parser(prog="convert_worldcereal.py",
                description="Convert a WorldCereal site (netCDF) to per-date GeoTIFFs for SMTS CloudFill.")
    p.add_argument("site_dir", help="folder with the S2_L2A_10m/20m and S1_GRD netCDF files of one site")
    p.add_argument("out_dir", help="output folder (msi/, scl/ and sar/ are created inside)")
    p.add_argument("--start", help="first date to convert, YYYY-MM-DD (inclusive)")
    p.add_argument("--end", help="last date to convert, YYYY-MM-DD (inclusive)")
    p.add_argument("--window", nargs=4, type=int, metavar=("X0", "Y0", "W", "H"),
                   help="pixel window on the 10 m grid (all even); SAR gets the same ground area at 20 m")
    p.add_argument("--s2-dates", help="comma-separated Sentinel-2 dates (overrides --start/--end); 'none' for no S2")
    p.add_argument("--s1-dates", help="comma-separated Sentinel-1 dates (overrides --start/--end); 'none' for no S1")
    p.add_argument("--list", action="store_true", help="write nothing; print cloud and no-data fractions per date")
    return p


def run(args: argparse.Namespace) -> int:
    """Do the conversion (or listing) described by the parsed arguments."""
    start = parse_date(args.start) if args.start else None
    end = parse_date(args.end) if args.end else None
    if start and end and start > end:
        raise ConvertError(f"--start {start} is after --end {end}")
    s2_listed = parse_date_list(args.s2_dates)
    s1_listed = parse_date_list(args.s1_dates)
    if not os.path.isdir(args.site_dir):
        raise ConvertError(f"site folder not found: {args.site_dir}")

    p10 = open_product(find_file(args.site_dir, "S2_L2A_10m_*.nc"), [b for b in S2_BANDS if b in S2_10M_BANDS])
    p20 = open_product(find_file(args.site_dir, "S2_L2A_20m_*.nc"), [b for b in S2_BANDS if b not in S2_10M_BANDS] + ["SCL"])
    p1 = open_product(find_file(args.site_dir, "S1_GRD-*_20m_*.nc"), list(S1_BANDS))
    _check_same_grid(p10, p20, 2)
    _check_same_grid(p10, p1, 2)
    if p10.times != p20.times:
        raise ConvertError("the 10 m and 20 m Sentinel-2 files have different timestamps")
    site = p10.site

    win10 = parse_window(args.window, p10.grid)
    x0, y0, w, h = win10
    win20 = (x0 // 2, y0 // 2, w // 2, h // 2)

    s2_sel = select_dates(p10.times, "S2", start, end, s2_listed)
    s1_sel = select_dates(p1.times, "S1", start, end, s1_listed)
    if not s2_sel and not s1_sel:
        raise ConvertError(f"no Sentinel-2 or Sentinel-1 date selected (data spans {p10.times[0]:%Y-%m-%d} .. {p10.times[-1]:%Y-%m-%d})")

    if args.list:
        for t, when in s2_sel:
            stack, scl = read_s2(p10, p20, t, win10)
            cloud, nodata = s2_fractions(stack, scl)
            print(f"S2 {when:%Y-%m-%d} cloud={cloud:.4f} nodata={nodata:.4f}")
        for t, when in s1_sel:
            sar = read_s1(p1, t, win20)
            print(f"S1 {when:%Y-%m-%d} nodata={float(np.isnan(sar).any(axis=0).mean()):.4f}")
        return 0

    src = {"SOURCE": "WorldCereal training extraction " + site,
           "ATTRIBUTION": "Contains modified Copernicus Sentinel data {year}"}
    gt10 = p10.grid.geotransform(x0, y0)
    for t, when in s2_sel:
        stack, scl = read_s2(p10, p20, t, win10)
        md = {k: v.format(year=when.year) for k, v in src.items()}
        day = when.strftime("%Y%m%d")
        write_tif(os.path.join(args.out_dir, "msi", f"S2_{site}_{day}.tif"), stack, gdal.GDT_UInt16, gt10,
                  p10.grid.epsg, S2_BANDS, 0, when, INT_OPTIONS, dict(md, SCALE_FACTOR=str(DN_SCALE)))
        write_tif(os.path.join(args.out_dir, "scl", f"SCL_{site}_{day}.tif"), scl[np.newaxis], gdal.GDT_Byte, gt10,
                  p10.grid.epsg, ["SCL"], None, when, INT_OPTIONS, md)
        print(f"S2 {when:%Y-%m-%d} written", file=sys.stderr)
    gt1 = p1.grid.geotransform(x0 * p10.grid.res / p1.grid.res, y0 * p10.grid.res / p1.grid.res)
    for t, when in s1_sel:
        sar = read_s1(p1, t, win20)
        md = {k: v.format(year=when.year) for k, v in src.items()}
        write_tif(os.path.join(args.out_dir, "sar", f"S1_{site}_{when:%Y%m%d}.tif"), sar, gdal.GDT_Float32, gt1,
                  p1.grid.epsg, S1_BANDS, float("nan"), when, FLOAT_OPTIONS, dict(md, UNITS="dB"))
        print(f"S1 {when:%Y-%m-%d} written", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: errors become one line on stderr and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except ConvertError as exc:
        print(f"convert_worldcereal.py: error: {exc}", file=sys.stderr)
    except (RuntimeError, OSError) as exc:  # GDAL and file-system failures
        print(f"convert_worldcereal.py: error: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
              file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
