"""From downloaded products to per-date stacks on one grid: what "Prepare Sentinel-1/2 time
series" runs.

For an extent (any CRS) the output grid is 10 m in the UTM zone of the extent's centre,
snapped to multiples of 20 m (as the Sentinel-2 tiles are), so a 20 m pixel of a product in that
zone is exactly 2 x 2 output pixels. For each date it writes:

- ``S2_<YYYYMMDD>.tif``: the 10 bands B02 ... B12 (band descriptions), UInt16 reflectance x 1e4
  (Level-2A encoding; ``BOA_ADD_OFFSET`` of baseline 04.00+ removed, so dates before and after
  January 2022 agree), no data 0; 20 m bands resampled to 10 m (nearest by default: no new
  values, as the bundled model's training data), products of another zone reprojected;
- ``SCL_<YYYYMMDD>.tif``: the scene classification on the same grid (nearest);
- ``CLOUDS_<YYYYMMDD>.tif``: 0/1, 1 = to fill: the chosen SCL classes, clouds and shadows grown
  by ``cloud_buffer`` pixels, and the user's polygons of missed clouds;
- ``S1_<YYYYMMDD>.tif``: Sentinel-1 VV, VH in dB (Float32, NaN no data) on the same grid.

Products of one day are mosaicked (the first product's pixels first), or, with
``same_day="clearer"``, only the one with the fewest cloudy or empty pixels over the extent (per
its SCL) is kept: a mosaic takes the first product's pixels wherever it has data, cloudy or
not. A product that does not cover the extent is skipped with a message.
Every file is written under a temporary name and put in place only when the whole run succeeded
(:class:`..write.writer.OutputSet`).
"""
from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, ogr, osr

from ..read.clouds import (DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING, parse_scl_classes,
                           scl_missing)
from ..read.dates import date_from_file
from ..errors import CloudFillError
from ..gdal_scope import gdal_exceptions
from ..progress import Feedback, SubFeedback
from .products import MODEL_BANDS, NATIVE_RES, S2Product, find_products, open_product
from ..read.raster import RasterInfo, canonical_band
# The cloud buffer's default and grown classes are shared with Reconstruct and Train.
from ..read.encodings import DN_SCALE, linear_to_db, looks_linear, sar_dn_scale
from ..write.writer import OutputSet, RasterWriter, folder_lock

RESAMPLINGS = ("nearest", "bilinear", "cubic")
#: What to do with several products of one day: mosaic them, or keep the clearer one.
SAME_DAY = ("mosaic", "clearer")
#: Processing baseline 04.00 came into use on this date (ESA); per-band folders of later dates
#: carry no metadata telling whether their values hold the -1000 offset.
BASELINE_04_START = dt.date(2022, 1, 25)
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


# ----- results ----------------------------------------------------------------------------------
@dataclass
class PreparedDate:
    date: dt.date
    msi_path: str
    scl_path: str | None
    mask_path: str | None
    cloud_fraction: float | None
    products: list[str] = field(default_factory=list)


@dataclass
class PreparedSar:
    date: dt.date
    path: str
    sources: list[str]
    orbit_direction: str = ""
    units: str = "dB"


@dataclass
class Prepared:
    grid: Grid
    dates: list[PreparedDate]
    sar: list[PreparedSar]
    skipped: list[str]


# ----- warping ---------------------------------------------------------------------------------
def _warp_band(dataset: str, band: int, grid: Grid, resampling: str, nodata: float | None,
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


def _footprint(dataset: str, grid: Grid) -> tuple[float, float, float, float] | None:
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


def _covers(fp, grid: Grid) -> bool:
    return fp is None or _overlaps(fp, grid.bounds)


# ----- Sentinel-2 ------------------------------------------------------------------------------
def _product_arrays(product: S2Product, grid: Grid, resampling: str,
                    feedback: Feedback) -> tuple[np.ndarray, np.ndarray | None]:
    """(10, H, W) UInt16 DN without offset (0 = no data) and (H, W) SCL (or None)."""
    msi = np.zeros((len(MODEL_BANDS), grid.height, grid.width), np.uint16)
    for i, band in enumerate(MODEL_BANDS):
        feedback.check()
        for source in product.bands[band]:
            alg = "nearest" if NATIVE_RES[band] == 10 else resampling
            data = _warp_band(source.dataset, source.band, grid, alg, 0, gdal.GDT_UInt16)
            values = data.astype(np.int32)
            valid = values > 0
            # reflectance x 10000 = (DN + BOA_ADD_OFFSET) x 10000 / quantification
            scaled = np.rint((values + product.offsets.get(band, 0.0)) * 10000.0 /
                             product.quantification).astype(np.int64)
            # a valid pixel never becomes 0 (no data): dark pixels below the offset read as 1
            fixed = np.where(valid, np.clip(scaled, 1, 65535), 0).astype(np.uint16)
            empty = msi[i] == 0
            msi[i][empty] = fixed[empty]
    scl = None
    if "SCL" in product.bands:
        scl = np.zeros((grid.height, grid.width), np.uint8)
        for source in product.bands["SCL"]:
            data = _warp_band(source.dataset, source.band, grid, "nearest", 0, gdal.GDT_Byte)
            empty = scl == 0
            scl[empty] = data[empty]
    return msi, scl


def parse_classes(text: str | tuple | list | None) -> tuple[int, ...]:
    """'7, 2' -> (7, 2); a clear message for anything else (the rule of
    :func:`..read.clouds.parse_scl_classes`, shared with Reconstruct)."""
    return parse_scl_classes(text)


def cloud_mask(scl: np.ndarray | None, msi_missing: np.ndarray, classes: tuple[int, ...],
               buffer_px: int, polygons: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool to fill: SCL ``classes`` (clouds and shadows grown by ``buffer_px``), the
    user's polygons, and pixels with no data in any band."""
    mask = msi_missing.copy()
    if scl is not None:
        mask |= scl_missing(scl, classes, buffer_px)
    if polygons is not None:
        mask |= polygons
    return mask


@dataclass
class CloudPolygons:
    """Polygons of clouds the SCL missed: WKT geometries in ``crs``, each with a date (or None:
    every date)."""

    geometries: list[tuple[str, dt.date | None]]
    crs: str

    def rasterize(self, grid: Grid, date: dt.date) -> np.ndarray | None:
        wkts = [w for w, d in self.geometries if d is None or d == date]
        if not wkts:
            return None
        src = osr.SpatialReference()
        src.SetFromUserInput(self.crs)
        src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        dst = osr.SpatialReference()
        dst.ImportFromEPSG(grid.epsg)
        dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        ct = osr.CoordinateTransformation(src, dst)
        mem = gdal.GetDriverByName("MEM").Create("", grid.width, grid.height, 1, gdal.GDT_Byte)
        mem.SetGeoTransform(grid.geotransform)
        mem.SetProjection(grid.wkt)
        vds = ogr.GetDriverByName("Memory").CreateDataSource("clouds")
        layer = vds.CreateLayer("clouds", dst, ogr.wkbUnknown)
        for wkt in wkts:
            geom = ogr.CreateGeometryFromWkt(wkt)
            if geom is None:
                continue
            geom.Transform(ct)
            feat = ogr.Feature(layer.GetLayerDefn())
            feat.SetGeometry(geom)
            layer.CreateFeature(feat)
        gdal.RasterizeLayer(mem, [1], layer, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
        out = mem.GetRasterBand(1).ReadAsArray().astype(bool)
        mem = vds = layer = None
        return out


def prepare_series(products: list[str], extent: Extent, out_folder: str, *,
                   buffer_m: float = 0.0, sar: list[str] | None = None,
                   cloud_buffer: int = DEFAULT_CLOUD_BUFFER,
                   scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                   cloud_polygons: CloudPolygons | None = None, resampling: str = "nearest",
                   same_day: str = "mosaic", feedback: Feedback | None = None) -> Prepared:
    """Write the per-date stacks of ``products`` (and ``sar``) for ``extent``; see the module
    docstring. Raises :class:`CloudFillError` for unusable input, naming the file."""
    feedback = feedback or Feedback()
    if resampling not in RESAMPLINGS:
        raise CloudFillError(f"Resampling '{resampling}' is not one of {', '.join(RESAMPLINGS)}.")
    if same_day not in SAME_DAY:
        raise CloudFillError(f"Products of one day: '{same_day}' is not one of "
                             f"{', '.join(SAME_DAY)}.")
    if cloud_buffer < 0:
        raise CloudFillError("The cloud buffer is a number of pixels, 0 or more.")
    with gdal_exceptions():
        grid = target_grid(extent, buffer_m)
        feedback.info(f"Output grid: EPSG:{grid.epsg}, {grid.width} x {grid.height} pixels at "
                      f"10 m, from ({grid.bounds[0]:.0f}, {grid.bounds[1]:.0f}) to "
                      f"({grid.bounds[2]:.0f}, {grid.bounds[3]:.0f}).")
        paths = find_products(products) if products else []
        if not paths and not sar:
            raise CloudFillError("No Sentinel-2 products or Sentinel-1 rasters were given.")
        opened, skipped = [], []
        for i, p in enumerate(paths):
            feedback.check()
            product = open_product(p)
            sources = [s.dataset for s in product.bands["B02"]]
            if not any(_covers(_footprint(s, grid), grid) for s in sources):
                skipped.append(f"'{product.name}' ({product.date.isoformat()}) does not cover "
                               "the extent: skipped.")
                feedback.warn(skipped[-1])
                continue
            opened.append(product)
            feedback.progress(0.05 * (i + 1) / len(paths), f"Opened {product.name}")
        if paths and not opened:
            raise CloudFillError("None of the Sentinel-2 products covers the extent: "
                                 + " ".join(skipped))
        by_date: dict[dt.date, list[S2Product]] = defaultdict(list)
        for product in opened:
            by_date[product.date].append(product)
        sar_groups = _group_sar(sar or [])
        steps = len(by_date) + len(sar_groups)
        with folder_lock(out_folder), OutputSet() as outputs:
            results = []
            for k, date in enumerate(sorted(by_date)):
                start = 0.05 + 0.95 * k / max(steps, 1)
                sub = SubFeedback(feedback, start, start + 0.95 / max(steps, 1))
                results.append(_prepare_date(date, by_date[date], grid, out_folder, outputs,
                                             cloud_buffer, scl_classes, cloud_polygons,
                                             resampling, same_day, sub))
            sar_results = []
            for k, (date, files) in enumerate(sorted(sar_groups.items())):
                feedback.check()
                feedback.progress(0.05 + 0.95 * (len(by_date) + k) / max(steps, 1),
                                  f"Sentinel-1 {date.isoformat()}")
                done = _prepare_sar_date(date, files, grid, out_folder, outputs, feedback)
                if done is None:
                    skipped.append(f"Sentinel-1 of {date.isoformat()} "
                                   f"({', '.join(os.path.basename(f) for f, _ in files)}) does "
                                   "not cover the extent: skipped.")
                    feedback.warn(skipped[-1])
                else:
                    sar_results.append(done)
            directions = {s.orbit_direction for s in sar_results if s.orbit_direction}
            if len(directions) > 1:
                feedback.warn("The Sentinel-1 dates mix ascending and descending passes: "
                              "backscatter depends on the look direction, keep one direction "
                              "for one season if you can.")
            feedback.check()
        feedback.progress(1.0, "Done")
        return Prepared(grid, results, sar_results, skipped)


def _prepare_date(date, products, grid, folder, outputs, cloud_buffer, scl_classes,
                  cloud_polygons, resampling, same_day, feedback) -> PreparedDate:
    stamp = date.strftime("%Y%m%d")
    msi = np.zeros((len(MODEL_BANDS), grid.height, grid.width), np.uint16)
    scl = None
    keep_clearer = same_day == "clearer" and len(products) > 1
    if keep_clearer and any("SCL" not in p.bands for p in products):
        feedback.warn(f"{date.isoformat()}: cannot tell which product is clearer, "
                      f"{', '.join(p.name for p in products if 'SCL' not in p.bands)} has no "
                      "scene classification (SCL): the products are mosaicked instead.")
        keep_clearer = False
    best = None  # (pixels to fill, index, msi, scl) of the clearer product so far
    passed_over: list[str] = []
    scores = []
    for j, product in enumerate(products):
        feedback.progress(j / (len(products) + 1), f"Sentinel-2 {date.isoformat()}: "
                                                   f"{product.name}")
        if product.has_offset:
            feedback.info(f"{product.name}: processing baseline {product.baseline}, "
                          f"BOA_ADD_OFFSET {product.offsets['B02']:g} removed.")
        elif product.baseline is None and date >= BASELINE_04_START:
            feedback.warn(f"{product.name}: a per-band folder from {date.isoformat()} (after "
                          "processing baseline 04.00 came into use) without MTD_MSIL2A.xml: "
                          "its values are taken as reflectance x 10000 with no offset. If they "
                          "include the +1000 offset, the date will look too bright.")
        p_msi, p_scl = _product_arrays(product, grid, resampling, feedback)
        if keep_clearer:
            # the SCL's own verdict, no buffer: no data, clouds, shadows and the chosen classes
            score = int(cloud_mask(p_scl, (p_msi == 0).any(0), scl_classes, 0).sum())
            scores.append(score)
            if best is None or score < best[0]:  # a tie keeps the first product
                best = (score, j, p_msi, p_scl)
            continue
        empty = msi == 0
        msi[empty] = p_msi[empty]
        if p_scl is not None:
            scl = p_scl if scl is None else np.where(scl == 0, p_scl, scl)
    if best is not None:
        _, j, msi, scl = best
        pixels = grid.width * grid.height
        feedback.info(f"{date.isoformat()}: kept the clearer of {len(products)} products, "
                      f"{products[j].name} (" + ", ".join(
                          f"{p.name}: {100 * s / pixels:.1f} %" for p, s in zip(products, scores))
                      + " of the area cloudy or without data per the SCL).")
        passed_over = [p.name for k, p in enumerate(products) if k != j]
        products = [products[j]]
    elif len(products) > 1:
        feedback.info(f"{date.isoformat()}: {len(products)} products mosaicked "
                      f"({', '.join(p.name for p in products)}).")
    missing = (msi == 0).any(0)
    if missing.all():
        raise CloudFillError(f"The Sentinel-2 product(s) of {date.isoformat()} "
                             f"({', '.join(p.name for p in products)}) hold no data over the "
                             "extent.")
    md = {"ACQUISITION_DATE": date.isoformat(), "SCALE_FACTOR": f"{DN_SCALE:g}",
          "SOURCE": "; ".join(p.name for p in products),
          "PROCESSING_BASELINE": "; ".join(p.baseline or "unknown" for p in products),
          "BOA_ADD_OFFSET_REMOVED": "; ".join(f"{p.offsets['B02']:g}" for p in products),
          "ATTRIBUTION": f"Contains modified Copernicus Sentinel data {date.year}"}
    if passed_over:
        md["SAME_DAY_NOT_USED"] = "; ".join(passed_over) + " (not clearer)"
    first = products[0]
    if first.time:
        md["ACQUISITION_DATETIME"] = first.time
    if first.spacecraft:
        md["SPACECRAFT"] = first.spacecraft
    if first.orbit_direction:
        md["ORBIT_DIRECTION"] = first.orbit_direction
    msi_path = os.path.join(folder, f"S2_{stamp}.tif")
    w = outputs.add(RasterWriter(msi_path, grid.info(msi_path, list(MODEL_BANDS),
                                                       gdal.GDT_UInt16, 0, md)))
    w.write(0, 0, msi[:len(MODEL_BANDS)])
    w.close()
    scl_path = mask_path = None
    fraction = None
    polygons = cloud_polygons.rasterize(grid, date) if cloud_polygons else None
    if scl is not None:
        scl_path = os.path.join(folder, f"SCL_{stamp}.tif")
        w = outputs.add(RasterWriter(scl_path, grid.info(scl_path, ["SCL"], gdal.GDT_Byte, None,
                                                           {**md, "CONTENT": "Sentinel-2 scene "
                                                            "classification (SCL)"})))
        w.write(0, 0, scl)
        w.close()
    else:
        feedback.warn(f"{date.isoformat()}: no scene classification (SCL) in "
                      f"{', '.join(p.name for p in products)}: its cloud mask holds only no "
                      "data" + (" and your polygons." if polygons is not None else "."))
    mask = cloud_mask(scl, missing, scl_classes, cloud_buffer, polygons)
    fraction = float(mask.mean())
    mask_path = os.path.join(folder, f"CLOUDS_{stamp}.tif")
    md_mask = {**md, "CONTENT": "cloud mask, 1 = to fill", "SCL_CLASSES":
               ",".join(map(str, scl_classes)), "CLOUD_BUFFER_PX": str(cloud_buffer),
               "USER_POLYGONS": "yes" if polygons is not None else "no"}
    w = outputs.add(RasterWriter(mask_path, grid.info(mask_path, ["cloud mask"], gdal.GDT_Byte,
                                                        None, md_mask)))
    w.write(0, 0, mask.astype(np.uint8))
    w.close()
    feedback.info(f"{date.isoformat()}: {100 * fraction:.1f} % to fill "
                  f"(SCL classes {','.join(map(str, scl_classes))}, buffer {cloud_buffer} px"
                  + (", your polygons" if polygons is not None else "") + ").")
    return PreparedDate(date, msi_path, scl_path, mask_path, fraction,
                        [p.path for p in products])


# ----- Sentinel-1 ------------------------------------------------------------------------------
_POL = re.compile(r"(?<![A-Z])(VV|VH)(?![A-Z])")
_ORBIT = re.compile(r"(?<![A-Z])(ASC|DESC|ASCENDING|DESCENDING)(?![A-Z])")


def _group_sar(paths: list[str]) -> dict[dt.date, list[tuple[str, dict]]]:
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


def _prepare_sar_date(date, files, grid, folder, outputs, feedback) -> PreparedSar | None:
    out = np.full((2, grid.height, grid.width), np.nan, np.float32)
    any_cover = False
    units_seen = set()
    for path, info in files:
        if not _covers(_footprint(path, grid), grid):
            continue
        any_cover = True
        for k, pol in enumerate(("VV", "VH")):
            if pol not in info["bands"]:
                continue
            integer = gdal.GetDataTypeName(info["type"]).lower().startswith(("int", "uint", "byte"))
            data = _warp_band(path, info["bands"][pol], grid, "bilinear", float("nan")
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
