"""Reading a per-date stack of rasters into model-ready arrays, window by window.

One MSI raster per date (multiband), optionally one cloud mask per date (Sentinel-2 SCL or
0/1) and SAR rasters (VV, VH) per date. MSI and masks must share CRS and grid. SAR may lie on
another grid: it is warped on the fly (GDAL warped VRT, bilinear, in dB) onto the MSI grid, so
any window can be read without resampling whole rasters.

Values come out as the model wants them: MSI as reflectance (DN x 1e-4, or the band's own
scale/offset, or float reflectance as is) and SAR as dB. Each date is read on its own terms:
its data type, encoding, scale and band order are found per file, since a stack assembled by
hand may mix a UInt16 date with a Float32 one, or band orders. The rules live beside it:
:mod:`.encodings` (stored values <-> reflectance and dB), :mod:`.bands` (band matching),
:mod:`.sar` (SAR warped onto the MSI grid); the stack opens, checks and reads.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal

from .. import gdal_scope
from ..errors import CloudFillError
from . import encodings
from .bands import match_bands
from .clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING, mask_meaning, parse_scl_classes
from .dates import mask_of_another_date
from .raster import MaskSource, RasterInfo, RasterSource, SarSource, Source, remembered
from .sar import detect_linear, read_db, warp_to_grid


def _override_dates(infos: list[RasterInfo], dates: list[dt.date | None] | None,
                    role: str) -> None:
    if not dates:
        return
    if len(dates) != len(infos):
        raise CloudFillError(f"{len(dates)} {role} dates were given for {len(infos)} {role} "
                             "rasters.")
    for info, d in zip(infos, dates):
        if d is not None:
            info.date = d


@dataclass
class StackWindow:
    """Arrays of one window of the stack, ready for the model and for writing.

    Attributes:
        msi: (T, C, h, w) float32 reflectance in the model's band order (None when read
            without it, :meth:`Stack.read`).
        missing: (T, h, w) bool, cloudy or no data.
        sar: (Ts, Cs, h, w) float32 dB on the MSI grid, or None.
        raw: (T, B, h, w) the MSI files' values as stored (all bands, each date in its own band
            order), to copy exactly. Dates of different data types share a type that holds
            every value exactly (numpy's promotion, e.g. UInt16 and Float32 give Float32): cast
            date ``k`` back with ``stack.msi[dates[k]].numpy_dtype``.
        dates: the stack's indices of the T dates.
    """

    msi: np.ndarray | None
    missing: np.ndarray
    sar: np.ndarray | None
    raw: np.ndarray
    dates: list[int] = field(default_factory=list)


@dataclass
class Stack:
    """An opened, checked per-date stack on one grid.

    Args:
        msi_paths: one multiband raster per date, in date order.
        mask_paths: None, or one cloud mask per MSI date (None entries allowed).
        sar_paths: SAR rasters (VV, VH) in date order, or None.
        bands: the band names the model needs, in its order; None keeps the file's bands.
        scl_classes: SCL classes that count as missing.
        cloud_buffer: pixels by which SCL clouds and shadows (``clouds.GROWN_CLASSES``) are grown
            (square neighbourhood); 0/1 masks are taken as they are, never grown.
        msi_dates, sar_dates: dates given by the user (e.g. edited in the dialog); they replace
            the dates parsed from file names or metadata. None entries keep the parsed date.
        haze_masks: None, or one 0/1 raster per MSI date on the grid (the haze check's flags,
            :func:`.haze.write_haze_masks`): their 1s are missing too.
    """

    msi_paths: list[str]
    mask_paths: list[str | None] | None = None
    sar_paths: list[str] | None = None
    bands: tuple[str, ...] | None = None
    scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING
    msi_dates: list[dt.date | None] | None = None
    sar_dates_given: list[dt.date | None] | None = None
    cloud_buffer: int = DEFAULT_CLOUD_BUFFER
    haze_masks: list[str | None] | None = None
    msi: list[RasterSource] = field(init=False)
    masks: list[MaskSource | None] = field(init=False)
    sar: list[SarSource] = field(init=False)

    def __post_init__(self) -> None:
        self._opened: list[RasterSource] = []
        self._haze: list[gdal.Dataset | None] = []
        gdal_scope.acquire()  # GDAL raises while the stack is open; released by close()
        self._scoped = True
        try:
            self._open_all()
        except BaseException:
            # Close what was opened now, in order (warped VRTs before their sources): left to
            # the garbage collector, a half-opened stack's datasets can crash the process.
            self.close()
            raise

    def _open_all(self) -> None:
        if not self.msi_paths:
            raise CloudFillError("No MSI rasters were given: the stack is empty.")
        if self.cloud_buffer < 0:
            raise CloudFillError("The cloud buffer is a number of pixels, 0 or more.")
        self.scl_classes = parse_scl_classes(self.scl_classes)
        self.msi = [self._open(RasterSource, p, f"MSI date {i + 1}")
                    for i, p in enumerate(self.msi_paths)]
        self.reference = ref = self.msi[0]
        for info in self.msi[1:]:
            self._check_grid(info, "MSI date")
            if info.band_count != ref.band_count:
                raise CloudFillError(
                    f"'{info.name}' has {info.band_count} bands but '{ref.name}' has "
                    f"{ref.band_count}: every MSI date needs the same bands.")
        own_dates = [info.date for info in self.msi]   # a mask is checked against these
        _override_dates(self.msi, self.msi_dates, "MSI")
        self.bands, self.band_indices = match_bands(self.msi, self.bands)
        self.masks = self._open_masks(own_dates)
        self.sar = [self._open(SarSource, p, f"SAR date {i + 1}")
                    for i, p in enumerate(self.sar_paths or [])]
        _override_dates(self.sar, self.sar_dates_given, "SAR")
        for sar in self.sar:
            warp_to_grid(sar, self.reference)
        # remembered() calls these at once, inside each step of the comprehension.
        self.encodings = [remembered("encoding", info.path,
                                     lambda: encodings.detect_encoding(info))
                          for info in self.msi]
        self.sar_linear = [remembered("linear", sar.path,
                                      lambda: detect_linear(sar, self.width, self.height))
                           for sar in self.sar]
        self.use_haze(self.haze_masks)

    def use_haze(self, paths: list[str | None] | None) -> None:
        """Count the 1s of these 0/1 rasters (one per MSI date, or None) as missing from now
        on (the haze check's flags); None: no haze masks."""
        self._haze = [None if p is None else gdal.Open(p) for p in paths or []]
        self.haze_masks = paths

    # ----- opening and checking -------------------------------------------------------------
    def _open(self, kind: type[Source], path: str, role: str) -> Source:
        source = kind.open(path, role)
        self._opened.append(source)
        return source

    def _check_grid(self, info: RasterInfo, role: str) -> None:
        ref = self.reference
        if not info.same_crs(ref):
            def where(i: RasterInfo) -> str:
                return f"is in {i.crs_name}" if i.crs_wkt else "has no CRS"
            raise CloudFillError(
                f"{role} '{info.name}' {where(info)} but '{ref.name}' (the first MSI date) "
                f"{where(ref)}: MSI rasters and masks must share one CRS and grid.")
        if not info.same_grid(ref):
            raise CloudFillError(
                f"{role} '{info.name}' ({info.width} x {info.height} px, origin "
                f"{info.geotransform[0]:.2f}, {info.geotransform[3]:.2f}, pixel "
                f"{info.geotransform[1]:g}) is not on the grid of '{ref.name}' ({ref.width} x "
                f"{ref.height} px, origin {ref.geotransform[0]:.2f}, {ref.geotransform[3]:.2f}, "
                f"pixel {ref.geotransform[1]:g}): MSI rasters and masks must share one grid.")

    def _open_masks(self, own_dates: list[dt.date | None]) -> list[MaskSource | None]:
        """Open the masks; each must lie on the grid, have one band, not name another date than
        its image (by the image's own date, else the one given for it: a date the user corrects
        does not make its mask another date's) and mean something (``mask.meaning``)."""
        paths = self.mask_paths or []
        if paths and len(paths) != len(self.msi):
            raise CloudFillError(
                f"{len(paths)} cloud masks were given for {len(self.msi)} MSI dates: give one "
                f"mask per MSI date, in the same order, or none.")
        masks: list[MaskSource | None] = []
        for i, p in enumerate(paths or [None] * len(self.msi)):
            if not p:
                masks.append(None)
                continue
            mask = self._open(MaskSource, p, f"Cloud mask {i + 1}")
            self._check_grid(mask, "Cloud mask")
            if mask.band_count != 1:
                raise CloudFillError(f"Cloud mask '{mask.name}' has {mask.band_count} bands; a "
                                     "mask has one (SCL classes or 0/1).")
            image, image_date = self.msi[i], own_dates[i] or self.msi[i].date
            if mask_of_another_date(image_date, mask.date):
                raise CloudFillError(
                    f"Cloud mask '{mask.name}' is of {mask.date} but is given for "
                    f"'{image.name}' of {image_date}: its clouds would be filled on the wrong "
                    "date. Give the masks in the order of the MSI dates, one per date.")
            mask.meaning = remembered("mask meaning", mask.path, lambda: mask_meaning(
                mask.read(band=1, buf_xsize=min(mask.width, 256), buf_ysize=min(mask.height, 256)),
                mask.descriptions[0], mask.nodata[0], mask.name))
            masks.append(mask)
        return masks

    # ----- properties ------------------------------------------------------------------------
    @property
    def by_position(self) -> list[int]:
        """The dates whose bands are matched to the model's by position (the file names no
        bands): a file that holds them in another order would be filled with bands mixed up."""
        return [t for t, info in enumerate(self.msi) if info.band_names is None]

    @property
    def width(self) -> int:
        return self.reference.width

    @property
    def height(self) -> int:
        return self.reference.height

    @property
    def dates(self) -> list[dt.date | None]:
        return [i.date for i in self.msi]

    @property
    def sar_dates(self) -> list[dt.date | None]:
        return [i.date for i in self.sar]

    def datasets(self, dates: list[int], sar_indices: list[int] | None = None
                 ) -> list[gdal.Dataset]:
        """The opened datasets a read of these dates (and SAR dates) touches: their MSI
        rasters, masks and SAR on the MSI grid (for sizing GDAL's cache)."""
        masks = [self.masks[t] for t in dates]
        return ([self.msi[t].dataset for t in dates] + [m.dataset for m in masks if m is not None]
                + [self.sar[i].warped for i in sar_indices or []])

    # ----- reading -----------------------------------------------------------------------------

    def to_reflectance(self, raw: np.ndarray, t: int = 0) -> np.ndarray:
        """(…, B, h, w) stored values of date ``t`` -> (…, C, h, w) float32 reflectance in
        model band order (:func:`.encodings.to_reflectance`)."""
        return encodings.to_reflectance(raw, self.msi[t], self.encodings[t],
                                        self.band_indices[t])

    def from_reflectance(self, refl: np.ndarray, t: int = 0) -> np.ndarray:
        """(…, C, h, w) reflectance -> stored values of the model's bands as date ``t`` stores
        them (:func:`.encodings.from_reflectance`; channel c goes to file band
        ``band_indices[t][c]``)."""
        return encodings.from_reflectance(refl, self.msi[t], self.encodings[t],
                                          self.band_indices[t])

    def read_missing(self, t: int, x0: int, y0: int, w: int, h: int,
                     raw: np.ndarray | None = None) -> np.ndarray:
        """(h, w) bool: cloudy per the mask (SCL clouds and shadows grown by
        :attr:`cloud_buffer`), or no data / NaN in any model band."""
        info = self.msi[t]
        if raw is None:
            raw = info.read(x0, y0, w, h).reshape(-1, h, w)
        index = self.band_indices[t]
        picked = raw[index]
        missing = np.zeros((h, w), dtype=bool)
        if picked.dtype.kind == "f":
            missing |= ~np.isfinite(picked).all(0)
        for c, b in enumerate(index):
            nd = info.nodata[b]
            if nd is None and info.numpy_dtype.kind == "u":
                nd = 0
            if nd is not None and not np.isnan(nd):
                missing |= picked[c] == nd
        mask = self.masks[t]
        if mask is not None:
            missing |= self._mask_missing(mask, x0, y0, w, h)
        if self._haze and self._haze[t] is not None:
            missing |= self._haze[t].GetRasterBand(1).ReadAsArray(x0, y0, w, h) != 0
        return missing

    def _mask_missing(self, mask: MaskSource, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        """(h, w) bool from a cloud mask, read as its content says (``mask.meaning``): a
        two-valued mask or a probability as it is; SCL classes with clouds and shadows grown by
        :attr:`cloud_buffer` px. The SCL is read with a margin of that many
        pixels (clipped at the raster's edge) and cropped after growing, so that a window's
        mask is the crop of the whole raster's, however the raster is cut into windows."""
        if not mask.is_scl:
            return mask.meaning.missing(mask.read(x0, y0, w, h, band=1))
        b = self.cloud_buffer
        ax0, ay0 = max(x0 - b, 0), max(y0 - b, 0)
        ax1, ay1 = min(x0 + w + b, mask.width), min(y0 + h + b, mask.height)
        values = mask.read(ax0, ay0, ax1 - ax0, ay1 - ay0, band=1)
        inner = (slice(y0 - ay0, y0 - ay0 + h), slice(x0 - ax0, x0 - ax0 + w))
        return mask.meaning.missing(values, self.scl_classes, b)[inner]

    def read(self, x0: int, y0: int, w: int, h: int,
             sar_indices: list[int] | None = None, dates: list[int] | None = None,
             reflectance: bool = True) -> StackWindow:
        """Read a window of all (or the chosen) dates; ``reflectance=False`` leaves out the
        model's inputs (``msi`` is None): the stored values and masks, for copying."""
        dates = list(range(len(self.msi))) if dates is None else list(dates)
        each = [self.msi[t].read(x0, y0, w, h).reshape(-1, h, w) for t in dates]
        missing = np.stack([self.read_missing(t, x0, y0, w, h, a) for a, t in zip(each, dates)])
        msi = None
        if reflectance:
            msi = np.stack([self.to_reflectance(a, t) for a, t in zip(each, dates)])
            msi[np.broadcast_to(missing[:, None], msi.shape)] = 0.0
        raw = np.stack(each)  # one type that holds every date's values (see StackWindow)
        sar = None
        if self.sar and sar_indices is not None:
            sar = np.stack([read_db(self.sar[i], self.sar_linear[i], x0, y0, w, h)
                            for i in sar_indices])
        return StackWindow(msi=msi, missing=missing, sar=sar, raw=raw, dates=dates)

    def close(self) -> None:
        """Close every dataset, in the order they were opened (each SAR's warped VRT before
        its source), and give back GDAL's exception mode."""
        self._haze = []
        for source in self._opened:
            source.close()
        if getattr(self, "_scoped", False):
            self._scoped = False
            gdal_scope.release()

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
