"""From downloaded products to per-date stacks on one grid: what "Prepare Sentinel-1/2 time
series" runs.

For an extent (any CRS) the output grid is 10 m in the UTM zone of the extent's centre
(:mod:`.grid`). For each date it writes:

- ``S2_<YYYYMMDD>.tif``: the 10 bands B02 ... B12 (band descriptions), UInt16 reflectance x 1e4
  (Level-2A encoding; ``BOA_ADD_OFFSET`` of baseline 04.00+ removed, so dates before and after
  January 2022 agree), no data 0; 20 m bands resampled to 10 m (nearest by default: no new
  values, as the bundled model's training data), products of another zone reprojected;
- ``SCL_<YYYYMMDD>.tif``: the scene classification on the same grid (nearest);
- ``CLOUDS_<YYYYMMDD>.tif``: 0/1, 1 = to fill: the chosen SCL classes, clouds and shadows grown
  by ``cloud_buffer`` pixels, and the user's polygons of missed clouds;
  (:mod:`.cloud_mask`);
- ``S1_<YYYYMMDD>.tif``: Sentinel-1 VV, VH in dB (Float32, NaN no data) on the same grid
  (:mod:`.sar`).

Products of one day are mosaicked (the first product's pixels first), or, with
``same_day="clearer"``, only the one with the fewest cloudy or empty pixels over the extent (per
its SCL) is kept: a mosaic takes the first product's pixels wherever it has data, cloudy or
not. A product that does not cover the extent is skipped with a message.
Every file is written under a temporary name and put in place only when the whole run succeeded
(:class:`..write.output_set.OutputSet`).
"""
from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal

from ..errors import CloudFillError
from ..gdal_scope import gdal_exceptions
from ..model.config import S2_BANDS
from ..progress import Feedback, SubFeedback
# The cloud buffer's default and grown classes are shared with Reconstruct and Train.
from ..read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING
from ..read.encodings import DN_SCALE
from ..write.folder_lock import folder_lock
from ..write.names import PREPARE_LOG
from ..write.output_set import OutputSet
from ..write.raster import RasterWriter
from ..write.run_log import RunLog
from .cloud_mask import CloudPolygons, cloud_mask
from .grid import Extent, Grid, covers, footprint, target_grid, warp_band
from .products import NATIVE_RES, S2Product, find_products, open_product
from .sar import PreparedSar, group_sar, prepare_sar_date

RESAMPLINGS = ("nearest", "bilinear", "cubic")
#: What to do with several products of one day: mosaic them, or keep the clearer one.
SAME_DAY = ("mosaic", "clearer")
#: Processing baseline 04.00 came into use on this date (ESA); per-band folders of later dates
#: carry no metadata telling whether their values hold the -1000 offset.
BASELINE_04_START = dt.date(2022, 1, 25)


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
class Prepared:
    grid: Grid
    dates: list[PreparedDate]
    sar: list[PreparedSar]
    skipped: list[str]


# ----- Sentinel-2 ------------------------------------------------------------------------------
def _product_arrays(product: S2Product, grid: Grid, resampling: str,
                    feedback: Feedback) -> tuple[np.ndarray, np.ndarray | None]:
    """(10, H, W) UInt16 DN without offset (0 = no data) and (H, W) SCL (or None)."""
    msi = np.zeros((len(S2_BANDS), grid.height, grid.width), np.uint16)
    for i, band in enumerate(S2_BANDS):
        feedback.check()
        for source in product.bands[band]:
            alg = "nearest" if NATIVE_RES[band] == 10 else resampling
            data = warp_band(source.dataset, source.band, grid, alg, 0, gdal.GDT_UInt16)
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
            data = warp_band(source.dataset, source.band, grid, "nearest", 0, gdal.GDT_Byte)
            empty = scl == 0
            scl[empty] = data[empty]
    return msi, scl


def prepare_series(products: list[str], extent: Extent, out_folder: str, *,
                   buffer_m: float = 0.0, sar: list[str] | None = None,
                   cloud_buffer: int = DEFAULT_CLOUD_BUFFER,
                   scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                   cloud_polygons: CloudPolygons | None = None, resampling: str = "nearest",
                   same_day: str = "mosaic", feedback: Feedback | None = None) -> Prepared:
    """Write the per-date stacks of ``products`` (and ``sar``) for ``extent``; see the module
    docstring. Raises :class:`CloudFillError` for unusable input, naming the file. Every
    message and the summary also go to ``cloudfill_prepare_log.txt``, with the outputs."""
    feedback = RunLog(feedback or Feedback())
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
            if not any(covers(footprint(s, grid), grid) for s in sources):
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
        sar_groups = group_sar(sar or [])
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
                done = prepare_sar_date(date, files, grid, out_folder, outputs, feedback)
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
            feedback.add_to(outputs, os.path.join(out_folder, PREPARE_LOG),
                            f"SMTS CloudFill Prepare into '{out_folder}'",
                            [f"Wrote {len(results)} Sentinel-2 and {len(sar_results)} "
                             "Sentinel-1 dates."])
        feedback.progress(1.0, "Done")
        return Prepared(grid, results, sar_results, skipped)


def _prepare_date(date: dt.date, products: list[S2Product], grid: Grid, folder: str,
                  outputs: OutputSet, cloud_buffer: int, scl_classes: tuple[int, ...],
                  cloud_polygons: CloudPolygons | None, resampling: str, same_day: str,
                  feedback: Feedback) -> PreparedDate:
    """Write one date's MSI, SCL and cloud mask from its ``products`` (mosaicked, or the
    clearer kept)."""
    msi, scl, products, passed_over = _date_arrays(date, products, grid, scl_classes,
                                                   resampling, same_day, feedback)
    missing = (msi == 0).any(0)
    if missing.all():
        raise CloudFillError(f"The Sentinel-2 product(s) of {date.isoformat()} "
                             f"({', '.join(p.name for p in products)}) hold no data over the "
                             "extent.")
    md = _date_metadata(date, products, passed_over)
    stamp = date.strftime("%Y%m%d")
    msi_path = os.path.join(folder, f"S2_{stamp}.tif")
    w = outputs.add(RasterWriter(msi_path, grid.info(msi_path, list(S2_BANDS),
                                                       gdal.GDT_UInt16, 0, md)))
    w.write(0, 0, msi[:len(S2_BANDS)])
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


def _date_arrays(date: dt.date, products: list[S2Product], grid: Grid,
                 scl_classes: tuple[int, ...], resampling: str, same_day: str,
                 feedback: Feedback
                 ) -> tuple[np.ndarray, np.ndarray | None, list[S2Product], list[str]]:
    """One date's MSI and SCL on the grid from its products: mosaicked (the first product's
    pixels first), or the clearer kept (``same_day``); with the products used and the names
    of those passed over."""
    msi = np.zeros((len(S2_BANDS), grid.height, grid.width), np.uint16)
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
        _say_offset(date, product, feedback)
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
    return msi, scl, products, passed_over


def _say_offset(date: dt.date, product: S2Product, feedback: Feedback) -> None:
    """Log the offset removed from a product, or warn when it cannot be known."""
    if product.has_offset:
        feedback.info(f"{product.name}: processing baseline {product.baseline}, "
                      f"BOA_ADD_OFFSET {product.offsets['B02']:g} removed.")
    elif product.baseline is None and date >= BASELINE_04_START:
        feedback.warn(f"{product.name}: a per-band folder from {date.isoformat()} (after "
                      "processing baseline 04.00 came into use) without MTD_MSIL2A.xml: "
                      "its values are taken as reflectance x 10000 with no offset. If they "
                      "include the +1000 offset, the date will look too bright.")


def _date_metadata(date: dt.date, products: list[S2Product], passed_over: list[str]
                   ) -> dict[str, str]:
    """The metadata of a date's files: its date, sources, baselines and attribution."""
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
    return md
