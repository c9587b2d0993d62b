"""Each parcel's season: an index's mean date by date, which of it was observed, which filled.

The parcels come as geometries in their own CRS and are reprojected to the rasters'; a pixel
belongs to a parcel when its centre lies inside it (GDAL's default rasterisation, each parcel
apart, so overlapping parcels each keep their pixels). For every date the season's own raster
is read, or Reconstruct's ``_filled`` raster of it when there is one: its ``_filled_mask``
says which pixels were filled, its ``_filled_rmse`` (when written) how far to trust them.
Rasters are read in strips of rows, so a whole Sentinel-2 tile needs no more memory than a
strip; per parcel only sums are kept.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import numpy as np
from osgeo import gdal, ogr, osr

from .. import gdal_scope
from ..errors import CloudFillError
from ..choose.confidence import INDEX_RATIOS_KEY, parse_ratios
from ..progress import Feedback
from ..read.raster import RasterSource
from ..read.stack import Stack
from ..write.names import filled_paths
from ..indices import DEFAULT_INDEX, INDICES, Index

#: What a parcel-date row says of where its values come from.
OBSERVED, PARTLY_FILLED, FILLED, NO_DATA = "observed", "partly filled", "filled", "no data"
#: Rows of the rasters read at a time.
STRIP_ROWS = 512


@dataclass
class Parcel:
    """A parcel: its identifier (the table's ``parcel``) and its geometry as WKB."""

    id: object
    wkb: bytes


@dataclass
class DateFiles:
    """What is read for one date: its own raster, or Reconstruct's filled raster of it with
    the filled-pixel mask and, when written, the expected error."""

    msi: str
    filled: str | None = None
    mask: str | None = None
    rmse: str | None = None

    @property
    def read_path(self) -> str:
        return self.filled or self.msi


def date_files(msi_paths: list[str], filled_folder: str | None) -> list[DateFiles]:
    """Each date's files: its ``_filled`` raster in ``filled_folder`` when Reconstruct wrote
    one (a filled raster without its mask is refused: which pixels were filled is unknown)."""
    out = []
    for path in msi_paths:
        files = DateFiles(path)
        if filled_folder:
            names = filled_paths(path, filled_folder)
            if os.path.exists(names.filled):
                if not os.path.exists(names.mask):
                    raise CloudFillError(
                        f"'{os.path.basename(names.filled)}' has no filled-pixel mask "
                        f"'{os.path.basename(names.mask)}' beside it in '{filled_folder}': "
                        "which of its pixels were filled is unknown.")
                files = DateFiles(path, names.filled, names.mask,
                                  names.rmse if os.path.exists(names.rmse) else None)
        out.append(files)
    return out


@dataclass
class SeriesRow:
    """One parcel on one date (the table's row)."""

    parcel: object
    date: str
    mean: float | None
    std: float | None
    pixels: int
    clear_share: float
    filled_share: float
    expected_error: float | None
    status: str
    #: The expected error of ``mean`` in index units: the filled pixels' expected error times
    #: what the self-check measured that error to be in this index (the ratio in the confidence
    #: raster's metadata), averaged over them and weighted by the filled share (their errors
    #: taken as one, as they are alike within a parcel). None without that raster or ratio.
    index_error: float | None = None


@dataclass
class _ParcelPixels:
    """The pixels of the parcels, each strip of rows apart: for strip s, ``owner[s]`` (which
    parcel, an index into ``parcels``) and ``flat[s]`` (the pixel's index in the strip)."""

    parcels: list[Parcel]
    pixels: np.ndarray
    owner: list[np.ndarray]
    flat: list[np.ndarray]


def _pixel_window(envelope: tuple[float, float, float, float], gt: tuple[float, ...],
                  width: int, height: int) -> tuple[int, int, int, int] | None:
    """Columns and rows (x0, y0, x1, y1) of the grid whose centres can lie in the envelope
    (min x, max x, min y, max y), clipped to the raster; None when none can."""
    xs = sorted(((envelope[0] - gt[0]) / gt[1], (envelope[1] - gt[0]) / gt[1]))
    ys = sorted(((envelope[2] - gt[3]) / gt[5], (envelope[3] - gt[3]) / gt[5]))
    x0, x1 = max(int(np.floor(xs[0])), 0), min(int(np.ceil(xs[1])) + 1, width)
    y0, y1 = max(int(np.floor(ys[0])), 0), min(int(np.ceil(ys[1])) + 1, height)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def _transform(parcels_crs: str | None, raster_crs: str) -> osr.CoordinateTransformation | None:
    """From the parcels' CRS (any text GDAL reads: 'EPSG:4326', WKT) to the rasters'; None when
    they are one CRS or either is unknown (the parcels are then taken as in the rasters' CRS)."""
    if not parcels_crs or not raster_crs:
        return None
    src, dst = osr.SpatialReference(), osr.SpatialReference(wkt=raster_crs)
    try:
        ok = src.SetFromUserInput(parcels_crs) == 0
    except RuntimeError:
        ok = False
    if not ok:
        raise CloudFillError(f"The parcels' CRS '{parcels_crs[:60]}' is not understood.")
    if src.IsSame(dst):
        return None
    for srs in (src, dst):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(src, dst)


def _geometry(parcel: Parcel, transform: osr.CoordinateTransformation | None,
              feedback: Feedback) -> ogr.Geometry | None:
    """The parcel's geometry in the rasters' CRS, or None (and a warning) when it cannot be used."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # GEOS's own lines: the warning says it
    try:
        geometry = ogr.CreateGeometryFromWkb(parcel.wkb) if parcel.wkb else None
        if geometry is None or geometry.IsEmpty():
            feedback.warn(f"Parcel {parcel.id}: no geometry; left out.")
            return None
        if not geometry.IsValid():
            feedback.warn(f"Parcel {parcel.id}: invalid geometry (e.g. a self-intersecting "
                          "ring); left out. QGIS's 'Fix geometries' mends it.")
            return None
        if transform is not None and geometry.Transform(transform) != 0:
            feedback.warn(f"Parcel {parcel.id} cannot be reprojected to the rasters' CRS; "
                          "left out.")
            return None
    except RuntimeError as e:
        feedback.warn(f"Parcel {parcel.id}: unusable geometry ({e}); left out.")
        return None
    finally:
        gdal.PopErrorHandler()
    return geometry


def parcel_pixels(parcels: list[Parcel], reference: RasterSource, feedback: Feedback,
                  strip_rows: int = STRIP_ROWS, parcels_crs: str | None = None
                  ) -> _ParcelPixels:
    """Rasterise each parcel on the reference grid (pixel centres inside), each apart. Parcels
    with an invalid or empty geometry, outside the rasters or covering no pixel centre are
    left out, a warning each."""
    gt, w, h = reference.geotransform, reference.width, reference.height
    if gt[2] != 0 or gt[4] != 0:
        raise CloudFillError(f"'{reference.name}' is rotated (its geotransform has rotation "
                             "terms): parcels can only be cut from north-up rasters.")
    srs = osr.SpatialReference(wkt=reference.crs_wkt) if reference.crs_wkt else None
    transform = _transform(parcels_crs, reference.crs_wkt)
    memory = ogr.GetDriverByName("Memory").CreateDataSource("parcels")
    strips = (h + strip_rows - 1) // strip_rows
    owners: list[list[np.ndarray]] = [[] for _ in range(strips)]
    flats: list[list[np.ndarray]] = [[] for _ in range(strips)]
    kept, counts = [], []
    for i, parcel in enumerate(parcels):
        if i % 50 == 0:
            feedback.check()
            feedback.progress(0.1 * i / max(len(parcels), 1))
        geometry = _geometry(parcel, transform, feedback)
        if geometry is None:
            continue
        window = _pixel_window(geometry.GetEnvelope(), gt, w, h)
        rows = cols = np.empty(0, dtype=np.int64)
        if window is not None:
            x0, y0, x1, y1 = window
            grid = gdal.GetDriverByName("MEM").Create("", x1 - x0, y1 - y0, 1, gdal.GDT_Byte)
            grid.SetGeoTransform((gt[0] + x0 * gt[1], gt[1], 0.0, gt[3] + y0 * gt[5], 0.0, gt[5]))
            if srs is not None:
                grid.SetSpatialRef(srs)
            layer = memory.CreateLayer("parcel", srs, geometry.GetGeometryType())
            feature = ogr.Feature(layer.GetLayerDefn())
            feature.SetGeometry(geometry)
            layer.CreateFeature(feature)
            gdal.RasterizeLayer(grid, [1], layer, burn_values=[1])
            inside = grid.GetRasterBand(1).ReadAsArray().astype(bool)
            memory.DeleteLayer(0)
            r, c = np.nonzero(inside)
            rows, cols = r + y0, c + x0
        if rows.size == 0:
            where = "lies outside the rasters" if window is None else \
                "covers no pixel centre (smaller than a pixel, or outside the rasters)"
            feedback.warn(f"Parcel {parcel.id} {where}; left out.")
            continue
        index = len(kept)
        kept.append(parcel)
        counts.append(rows.size)
        strip = rows // strip_rows
        for s in np.unique(strip):
            sel = strip == s
            owners[s].append(np.full(int(sel.sum()), index, dtype=np.int64))
            flats[s].append((rows[sel] - s * strip_rows) * w + cols[sel])
    join = lambda parts: np.concatenate(parts) if parts else np.empty(0, np.int64)  # noqa: E731
    return _ParcelPixels(kept, np.array(counts, dtype=np.int64),
                         [join(o) for o in owners], [join(f) for f in flats])


def band_positions(stack: Stack, index: Index) -> list[int]:
    """Where the index's bands are among those of an :func:`index_stack`."""
    return [stack.bands.index(b) for b in index.bands]


def index_stack(paths: list[str], index: Index, msi_dates=None) -> Stack:
    """One stack over the rasters an index is read from (a season's dates, filled or not):
    one grid, encodings decoded; bands by name, or Sentinel-2's 10 in order when unnamed."""
    from ..model.config import S2_BANDS
    reference = RasterSource.open(paths[0], "Raster of date 1")
    try:
        names = reference.band_names
    finally:
        reference.close()
    bands = index.bands if names is not None else tuple(S2_BANDS)
    if names is not None and any(b not in names for b in index.bands):
        missing = [b for b in index.bands if b not in names]
        raise CloudFillError(
            f"{index.name} needs bands {', '.join(index.bands)}, but '{reference.name}' has "
            f"{', '.join(names)} (missing: {', '.join(missing)}).")
    return Stack(list(paths), bands=bands, msi_dates=msi_dates)


class _Sums:
    """Per parcel sums over one date."""

    def __init__(self, n: int) -> None:
        z = lambda: np.zeros(n)  # noqa: E731
        self.valid, self.total, self.squares = z(), z(), z()
        self.clear, self.filled, self.error, self.errors = z(), z(), z(), z()
        self.index_error = z()
        self.has_ratio = False


def parcel_series(parcels: list[Parcel], msi_paths: list[str], filled_folder: str | None = None,
                  index: str = DEFAULT_INDEX, msi_dates: list[dt.date | None] | None = None,
                  feedback: Feedback | None = None, parcels_crs: str | None = None,
                  strip_rows: int = STRIP_ROWS) -> list[SeriesRow]:
    """The table: one row per parcel and date, parcels in their order, dates in the season's.

    Args:
        parcels: their geometries, in ``parcels_crs`` (None: the rasters' CRS).
        msi_paths: the season's per-date rasters, as given to Reconstruct.
        filled_folder: Reconstruct's output folder, or None (observed values only).
        index: a key of :data:`.indices.INDICES`.
        msi_dates: dates replacing those read from file names or metadata.
    """
    feedback = feedback or Feedback()
    if index not in INDICES:
        raise CloudFillError(f"Unknown index '{index}': one of {', '.join(INDICES)}.")
    if not msi_paths:
        raise CloudFillError("No Sentinel-2 rasters were given.")
    idx = INDICES[index]
    files = date_files(msi_paths, filled_folder)
    with gdal_scope.gdal_exceptions(), \
            index_stack([f.read_path for f in files], idx, msi_dates) as stack:
        pix = parcel_pixels(parcels, stack.reference, feedback, strip_rows, parcels_crs)
        if not pix.parcels:
            raise CloudFillError("No parcel covers a pixel centre of the rasters: nothing to "
                                 "summarise (are the parcels over the rasters' area?).")
        if None in stack.dates:
            feedback.warn("Some dates are unknown (not in the file names or metadata): their "
                          "rows have an empty date.")
        positions = band_positions(stack, idx)
        rows = []
        for t, date in enumerate(stack.dates):
            sums = _date_sums(stack, t, files[t], idx, positions, pix, strip_rows, feedback,
                              (0.1 + 0.9 * t / len(files), 0.1 + 0.9 * (t + 1) / len(files)))
            rows.extend(_rows(pix, sums, date.isoformat() if date else ""))
    # Parcel by parcel, each in date order.
    order = sorted(range(len(rows)), key=lambda r: (r % len(pix.parcels), r // len(pix.parcels)))
    return [rows[r] for r in order]


def _date_sums(stack: Stack, t: int, files: DateFiles, idx: Index, positions: list[int],
               pix: _ParcelPixels, strip_rows: int, feedback: Feedback,
               span: tuple[float, float]) -> _Sums:
    sums = _Sums(len(pix.parcels))
    mask = rmse = None
    if files.mask:
        mask = RasterSource.open(files.mask, f"Filled-pixel mask of date {t + 1}")
    ratio = None
    if files.rmse:
        rmse = RasterSource.open(files.rmse, f"Expected error of date {t + 1}")
        ratio = parse_ratios(rmse.metadata.get(INDEX_RATIOS_KEY)).get(idx.name)
    try:
        for source in (mask, rmse):
            if source is not None and not source.same_grid(stack.reference):
                raise CloudFillError(f"'{source.name}' is not on the grid of "
                                     f"'{stack.reference.name}'.")
        strips = len(pix.owner)
        for s in range(strips):
            feedback.check()
            feedback.progress(span[0] + (span[1] - span[0]) * s / strips)
            owner, flat = pix.owner[s], pix.flat[s]
            if owner.size == 0:
                continue
            y0 = s * strip_rows
            h = min(strip_rows, stack.height - y0)
            window = stack.read(0, y0, stack.width, h, dates=[t])
            refl = {b: window.msi[0, p].ravel()[flat] for b, p in zip(idx.bands, positions)}
            values = idx.compute(refl)
            missing = window.missing[0].ravel()[flat]
            filled = np.zeros(flat.size, dtype=bool)
            if mask is not None:
                filled = mask.read(0, y0, stack.width, h, band=1).ravel()[flat] == 1
            ok = ~missing & np.isfinite(values)
            n = len(pix.parcels)
            add = lambda sel, weights=None: np.bincount(  # noqa: E731
                owner[sel], weights=None if weights is None else weights[sel], minlength=n)
            sums.valid += add(ok)
            sums.total += add(ok, values)
            sums.squares += add(ok, values * values)
            sums.clear += add(~missing & ~filled)
            sums.filled += add(filled & ~missing)
            if rmse is not None:
                error = rmse.read(0, y0, stack.width, h, band=1).astype(np.float64).ravel()[flat]
                nodata = rmse.nodata[0]
                good = filled & ~missing & np.isfinite(error)
                if nodata is not None:
                    good &= error != nodata
                sums.error += add(good, error)
                sums.errors += add(good)
                if ratio is not None:
                    sums.index_error += add(good, error * ratio)
    finally:
        for source in (mask, rmse):
            if source is not None:
                source.close()
    sums.has_ratio = ratio is not None
    return sums


def _rows(pix: _ParcelPixels, sums: _Sums, date: str) -> list[SeriesRow]:
    out = []
    for p, parcel in enumerate(pix.parcels):
        n, pixels = sums.valid[p], int(pix.pixels[p])
        mean = std = None
        if n > 0:
            mean = sums.total[p] / n
            std = float(np.sqrt(max(sums.squares[p] / n - mean * mean, 0.0)))
            mean = float(mean)
        filled = sums.filled[p]
        if n == 0:
            status = NO_DATA
        elif filled == 0:
            status = OBSERVED
        elif sums.clear[p] == 0:
            status = FILLED
        else:
            status = PARTLY_FILLED
        error = index_error = None
        if sums.errors[p] > 0:
            error = float(sums.error[p] / sums.errors[p])
            if sums.has_ratio:
                index_error = float(filled / pixels * sums.index_error[p] / sums.errors[p])
        out.append(SeriesRow(parcel.id, date, mean, std, pixels, float(sums.clear[p] / pixels),
                             float(filled / pixels), error, status, index_error))
    return out
