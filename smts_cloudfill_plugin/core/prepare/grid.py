"""Prepare's output grid, and sources warped onto it.

For an extent (any CRS) the grid is 10 m in the UTM zone of the extent's centre, snapped to
multiples of 20 m (as the Sentinel-2 tiles are), so a 20 m pixel of a product in that zone is
exactly 2 x 2 output pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, osr

from ..errors import CloudFillError
from ..read.raster import RasterInfo

_WGS84 = 4326


@dataclass
class Extent:
    """An area in any CRS (``crs`` is WKT, 'EPSG:n' or anything osr reads)."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    crs: str

    def srs(self) -> osr.SpatialReference:
        srs = osr.SpatialReference()
        if srs.SetFromUserInput(self.crs) != 0:
            raise CloudFillError(f"The extent's CRS '{self.crs[:60]}' is not understood.")
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        return srs


@dataclass
class Grid:
    epsg: int
    xmin: float
    ymax: float
    width: int
    height: int
    res: float = 10.0

    @property
    def wkt(self) -> str:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(self.epsg)
        return srs.ExportToWkt()

    @property
    def geotransform(self) -> tuple[float, ...]:
        return (self.xmin, self.res, 0.0, self.ymax, 0.0, -self.res)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymax - self.height * self.res,
                self.xmin + self.width * self.res, self.ymax)

    def info(self, path: str, bands: list[str], gdal_type: int, nodata: float | None,
             metadata: dict[str, str]) -> RasterInfo:
        return RasterInfo(path=path, width=self.width, height=self.height,
                          geotransform=self.geotransform, crs_wkt=self.wkt,
                          band_count=len(bands), gdal_type=gdal_type,
                          nodata=[nodata] * len(bands), descriptions=list(bands),
                          scales=[1.0] * len(bands), offsets=[0.0] * len(bands),
                          metadata=metadata)


def utm_epsg(lon: float, lat: float) -> int:
    """The WGS 84 / UTM zone EPSG code of a point (Norway and Svalbard exceptions left out,
    as the Sentinel-2 tiling does)."""
    zone = min(max(int(math.floor((lon + 180.0) / 6.0)) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def _transform_bounds(bounds, src: osr.SpatialReference, dst: osr.SpatialReference,
                      steps: int = 21) -> tuple[float, float, float, float]:
    """Bounds of ``bounds`` (xmin, ymin, xmax, ymax) in ``dst``, edges densified."""
    ct = osr.CoordinateTransformation(src, dst)
    xmin, ymin, xmax, ymax = bounds
    pts = []
    for i in range(steps):
        f = i / (steps - 1)
        x, y = xmin + f * (xmax - xmin), ymin + f * (ymax - ymin)
        pts += [(x, ymin), (x, ymax), (xmin, y), (xmax, y)]
    out = [ct.TransformPoint(px, py)[:2] for px, py in pts]
    xs, ys = [p[0] for p in out], [p[1] for p in out]
    if not all(map(math.isfinite, xs + ys)):
        raise CloudFillError("The extent cannot be transformed to UTM (is it on the globe?).")
    return min(xs), min(ys), max(xs), max(ys)


def target_grid(extent: Extent, buffer_m: float = 0.0, res: float = 10.0) -> Grid:
    """The 10 m grid in the extent's UTM zone covering ``extent`` grown by ``buffer_m``."""
    if not (extent.xmax > extent.xmin and extent.ymax > extent.ymin):
        raise CloudFillError("The extent is empty: draw or choose an area (or give parcels).")
    src = extent.srs()
    wgs = osr.SpatialReference()
    wgs.ImportFromEPSG(_WGS84)
    wgs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lon0, lat0, lon1, lat1 = _transform_bounds(
        (extent.xmin, extent.ymin, extent.xmax, extent.ymax), src, wgs)
    epsg = utm_epsg((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    utm = osr.SpatialReference()
    utm.ImportFromEPSG(epsg)
    utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    xmin, ymin, xmax, ymax = _transform_bounds(
        (extent.xmin, extent.ymin, extent.xmax, extent.ymax), src, utm)
    xmin, ymin, xmax, ymax = xmin - buffer_m, ymin - buffer_m, xmax + buffer_m, ymax + buffer_m
    snap = 2 * res  # the 20 m grid of the tiles, so 20 m pixels are whole 2 x 2 blocks
    x0, y1 = math.floor(xmin / snap + 1e-9) * snap, math.ceil(ymax / snap - 1e-9) * snap
    x1, y0 = math.ceil(xmax / snap - 1e-9) * snap, math.floor(ymin / snap + 1e-9) * snap
    width, height = int(round((x1 - x0) / res)), int(round((y1 - y0) / res))
    if width * height > 12000 * 12000:
        raise CloudFillError(f"The extent is {width} x {height} pixels at 10 m, larger than a "
                             "Sentinel-2 tile: choose a smaller area.")
    return Grid(epsg, x0, y1, width, height, res)


def warp_band(dataset: str, band: int, grid: Grid, resampling: str, nodata: float | None,
               gdal_type: int) -> np.ndarray:
    """One band of ``dataset`` on ``grid`` (no data where the source has none)."""
    try:
        src = gdal.Open(dataset)
        single = gdal.Translate("", src, format="VRT", bandList=[band])
        out = gdal.Warp("", single, format="MEM", outputBounds=grid.bounds, width=grid.width,
                        height=grid.height, dstSRS=grid.wkt, resampleAlg=resampling,
                        srcNodata=nodata, dstNodata=nodata, outputType=gdal_type,
                        multithread=False)
        data = out.GetRasterBand(1).ReadAsArray()
    except RuntimeError as e:
        raise CloudFillError(f"Cannot read '{dataset}' (band {band}): the file is damaged or "
                             f"unreadable ({str(e).strip().splitlines()[0]}).") from None
    finally:
        # Closed here, not by the garbage collector, each view before what it reads from.
        out = single = src = None  # noqa: F841
    return data


def footprint(dataset: str, grid: Grid) -> tuple[float, float, float, float] | None:
    """The source's bounds in the grid's CRS, or None when it has no georeferencing."""
    try:
        ds = gdal.Open(dataset)
        gt, w, h, wkt = ds.GetGeoTransform(), ds.RasterXSize, ds.RasterYSize, ds.GetProjection()
        ds = None
    except RuntimeError as e:
        raise CloudFillError(f"Cannot open '{dataset}': {e}") from None
    if not wkt:
        return None
    src = osr.SpatialReference(wkt=wkt)
    src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    dst = osr.SpatialReference()
    dst.ImportFromEPSG(grid.epsg)
    dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    xs = (gt[0], gt[0] + gt[1] * w)
    ys = (gt[3] + gt[5] * h, gt[3])
    return _transform_bounds((min(xs), min(ys), max(xs), max(ys)), src, dst)


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def covers(fp, grid: Grid) -> bool:
    """Whether a footprint (:func:`footprint`; None: no georeferencing, taken to) overlaps
    ``grid``."""
    return fp is None or _overlaps(fp, grid.bounds)
