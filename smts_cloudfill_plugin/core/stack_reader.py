"""Reading a per-date stack of rasters into model-ready arrays, window by window.

One MSI raster per date (multiband), optionally one cloud mask per date (Sentinel-2 SCL or
0/1) and SAR rasters (VV, VH) per date. MSI and masks must share CRS and grid. SAR may lie on
another grid: it is warped on the fly (GDAL warped VRT, bilinear, in dB) onto the MSI grid, so
any window can be read without resampling whole rasters.

Values come out as the model wants them: MSI as reflectance (DN x 1e-4, or the band's own
scale/offset, or float reflectance as is) and SAR as dB.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import numpy as np
from osgeo import gdal, osr

from .clouds import DEFAULT_SCL_MISSING, binary_to_mask, looks_like_scl, scl_to_mask
from .dates import date_from_file
from .errors import CloudFillError

gdal.UseExceptions()

#: Integer reflectance is DN x this when the band declares no scale of its own (Sentinel-2 L2A).
DN_SCALE = 1e-4


def canonical_band(name: str) -> str:
    """'B2', 'b02', 'B02 (blue)' -> 'B02'; 'B8A' stays; anything else upper-cased."""
    token = name.strip().split()[0].upper() if name.strip() else ""
    if len(token) >= 2 and token[0] == "B" and token[1:].isdigit():
        return f"B{int(token[1:]):02d}"
    return token


@dataclass
class RasterInfo:
    """What we know of one raster file after opening it."""

    path: str
    width: int
    height: int
    geotransform: tuple[float, ...]
    crs_wkt: str
    band_count: int
    gdal_type: int
    nodata: list[float | None]
    descriptions: list[str]
    scales: list[float]
    offsets: list[float]
    metadata: dict[str, str]
    date: dt.date | None = None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(gdal.GetDataTypeName(self.gdal_type).lower().replace("byte", "uint8"))

    @property
    def crs_name(self) -> str:
        srs = osr.SpatialReference(wkt=self.crs_wkt) if self.crs_wkt else None
        if srs is None:
            return "no CRS"
        code = srs.GetAuthorityCode(None)
        return f"{srs.GetAuthorityName(None)}:{code}" if code else srs.GetName()


def open_raster(path: str, role: str) -> tuple[gdal.Dataset, RasterInfo]:
    """Open ``path`` read-only; a clear :class:`CloudFillError` when GDAL cannot."""
    if not os.path.exists(path):
        raise CloudFillError(f"{role} '{path}' does not exist.")
    try:
        ds = gdal.Open(path, gdal.GA_ReadOnly)
    except RuntimeError as e:
        raise CloudFillError(f"Cannot read {role} '{path}' as a raster: {e}") from None
    if ds is None or ds.RasterCount == 0:
        raise CloudFillError(f"Cannot read {role} '{path}' as a raster: it has no bands.")
    bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
    md = ds.GetMetadata() or {}
    info = RasterInfo(
        path=path, width=ds.RasterXSize, height=ds.RasterYSize,
        geotransform=tuple(ds.GetGeoTransform()), crs_wkt=ds.GetProjection() or "",
        band_count=ds.RasterCount, gdal_type=bands[0].DataType,
        nodata=[b.GetNoDataValue() for b in bands],
        descriptions=[b.GetDescription() or "" for b in bands],
        scales=[b.GetScale() or 1.0 for b in bands],
        offsets=[b.GetOffset() or 0.0 for b in bands],
        metadata=md)
    info.date = date_from_file(path, md)
    return ds, info


def _same_crs(a: str, b: str) -> bool:
    if not a or not b:
        return a == b
    return bool(osr.SpatialReference(wkt=a).IsSame(osr.SpatialReference(wkt=b)))


def _same_grid(a: RasterInfo, b: RasterInfo) -> bool:
    tol = abs(a.geotransform[1]) * 1e-3
    return (a.width, a.height) == (b.width, b.height) and all(
        abs(x - y) <= tol for x, y in zip(a.geotransform, b.geotransform))


def _override_dates(infos: list[RasterInfo], dates: list[dt.date | None] | None, role: str) -> None:
    if not dates:
        return
    if len(dates) != len(infos):
        raise CloudFillError(f"{len(dates)} {role} dates were given for {len(infos)} {role} rasters.")
    for info, d in zip(infos, dates):
        if d is not None:
            info.date = d


@dataclass
class StackWindow:
    """Arrays of one window of the stack, ready for the model and for writing.

    Attributes:
        msi: (T, C, h, w) float32 reflectance in the model's band order.
        missing: (T, h, w) bool, cloudy or no data.
        sar: (Ts, Cs, h, w) float32 dB on the MSI grid, or None.
        raw: (T, B, h, w) the MSI files' values as stored (all bands), to copy exactly.
    """

    msi: np.ndarray
    missing: np.ndarray
    sar: np.ndarray | None
    raw: np.ndarray


@dataclass
class Stack:
    """An opened, checked per-date stack on one grid.

    Args:
        msi_paths: one multiband raster per date, in date order.
        mask_paths: None, or one cloud mask per MSI date (None entries allowed).
        sar_paths: SAR rasters (VV, VH) in date order, or None.
        bands: the band names the model needs, in its order; None keeps the file's bands.
        scl_classes: SCL classes that count as missing.
        msi_dates, sar_dates: dates given by the user (e.g. edited in the dialog); they replace
            the dates parsed from file names or metadata. None entries keep the parsed date.
    """

    msi_paths: list[str]
    mask_paths: list[str | None] | None = None
    sar_paths: list[str] | None = None
    bands: tuple[str, ...] | None = None
    scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING
    msi_dates: list[dt.date | None] | None = None
    sar_dates_given: list[dt.date | None] | None = None
    msi: list[RasterInfo] = field(init=False)
    masks: list[RasterInfo | None] = field(init=False)
    sar: list[RasterInfo] = field(init=False)

    def __post_init__(self) -> None:
        self._datasets: list[gdal.Dataset] = []
        if not self.msi_paths:
            raise CloudFillError("No MSI rasters were given: the stack is empty.")
        self.msi = [self._open(p, f"MSI date {i + 1}") for i, p in enumerate(self.msi_paths)]
        self.reference = ref = self.msi[0]
        for info in self.msi[1:]:
            self._check_grid(info, "MSI date")
            if info.band_count != ref.band_count:
                raise CloudFillError(
                    f"'{info.name}' has {info.band_count} bands but '{ref.name}' has "
                    f"{ref.band_count}: every MSI date needs the same bands.")
        _override_dates(self.msi, self.msi_dates, "MSI")
        self.band_index = self._match_bands()
        self.masks = self._open_masks()
        self.sar = [self._open(p, f"SAR date {i + 1}") for i, p in enumerate(self.sar_paths or [])]
        _override_dates(self.sar, self.sar_dates_given, "SAR")
        self._sar_vrts = [self._warp_to_grid(ds_info) for ds_info in self.sar]
        self._msi_float_dn = self._detect_float_dn()
        self._sar_linear = [self._detect_linear(i) for i in range(len(self.sar))]

    # ----- opening and checking -------------------------------------------------------------
    def _open(self, path: str, role: str) -> RasterInfo:
        ds, info = open_raster(path, role)
        self._datasets.append(ds)
        info._ds = ds  # type: ignore[attr-defined]
        return info

    def _check_grid(self, info: RasterInfo, role: str) -> None:
        ref = self.reference
        if not _same_crs(info.crs_wkt, ref.crs_wkt):
            raise CloudFillError(
                f"{role} '{info.name}' is in {info.crs_name} but '{ref.name}' (the first MSI date) "
                f"is in {ref.crs_name}: MSI rasters and masks must share one CRS and grid.")
        if not _same_grid(info, ref):
            raise CloudFillError(
                f"{role} '{info.name}' ({info.width} x {info.height} px, origin "
                f"{info.geotransform[0]:.2f}, {info.geotransform[3]:.2f}, pixel "
                f"{info.geotransform[1]:g}) is not on the grid of '{ref.name}' ({ref.width} x "
                f"{ref.height} px, origin {ref.geotransform[0]:.2f}, {ref.geotransform[3]:.2f}, "
                f"pixel {ref.geotransform[1]:g}): MSI rasters and masks must share one grid.")

    def _match_bands(self) -> list[int]:
        """File band index for each model band: by description when present, else by position."""
        ref = self.reference
        names = [canonical_band(d) for d in ref.descriptions]
        if self.bands is None:
            self.bands = tuple(n or f"band {i + 1}" for i, n in enumerate(names))
            return list(range(ref.band_count))
        wanted = [canonical_band(b) for b in self.bands]
        if all(names) and len(set(names)) == len(names):
            missing = [w for w in wanted if w not in names]
            if missing:
                raise CloudFillError(
                    f"'{ref.name}' has bands {', '.join(names)} but the model needs "
                    f"{', '.join(wanted)} (missing: {', '.join(missing)}).")
            return [names.index(w) for w in wanted]
        if ref.band_count != len(wanted):
            raise CloudFillError(
                f"'{ref.name}' has {ref.band_count} bands without names, but the model needs "
                f"{len(wanted)} bands ({', '.join(wanted)}): give the bands descriptions or "
                f"use a raster with exactly these bands in this order.")
        return list(range(len(wanted)))

    def _open_masks(self) -> list[RasterInfo | None]:
        paths = self.mask_paths or []
        if paths and len(paths) != len(self.msi):
            raise CloudFillError(
                f"{len(paths)} cloud masks were given for {len(self.msi)} MSI dates: give one "
                f"mask per MSI date, in the same order, or none.")
        masks: list[RasterInfo | None] = []
        for i, p in enumerate(paths or [None] * len(self.msi)):
            if not p:
                masks.append(None)
                continue
            info = self._open(p, f"Cloud mask {i + 1}")
            self._check_grid(info, "Cloud mask")
            if info.band_count != 1:
                raise CloudFillError(f"Cloud mask '{info.name}' has {info.band_count} bands; a "
                                     "mask has one (SCL classes or 0/1).")
            small = info._ds.GetRasterBand(1).ReadAsArray(  # type: ignore[attr-defined]
                buf_xsize=min(info.width, 256), buf_ysize=min(info.height, 256))
            info.is_scl = looks_like_scl(small, info.descriptions[0])  # type: ignore[attr-defined]
            masks.append(info)
        return masks

    def _warp_to_grid(self, info: RasterInfo) -> gdal.Dataset:
        """A warped VRT of a SAR raster on the MSI grid (bilinear), read lazily by window."""
        ref = self.reference
        if info.band_count < 2:
            raise CloudFillError(f"SAR '{info.name}' has {info.band_count} band; SAR needs VV "
                                 "and VH (2 bands, VV first unless named).")
        gt = ref.geotransform
        bounds = (gt[0], gt[3] + gt[5] * ref.height, gt[0] + gt[1] * ref.width, gt[3])
        try:
            vrt = gdal.Warp("", info._ds, format="VRT", outputBounds=bounds,  # type: ignore
                            width=ref.width, height=ref.height, dstSRS=ref.crs_wkt or None,
                            resampleAlg="bilinear", dstNodata=float("nan"),
                            outputType=gdal.GDT_Float32)
        except RuntimeError as e:
            raise CloudFillError(f"Cannot resample SAR '{info.name}' onto the MSI grid: {e}") from None
        names = [canonical_band(d) for d in info.descriptions]
        info.sar_bands = [names.index(b) if b in names else i  # type: ignore[attr-defined]
                          for i, b in enumerate(("VV", "VH"))]
        return vrt

    def _detect_float_dn(self) -> bool:
        """Float MSI holding DN values (0..10000) rather than reflectance (0..1)?"""
        ref = self.reference
        if ref.numpy_dtype.kind != "f":
            return False
        sample = ref._ds.ReadAsArray(  # type: ignore[attr-defined]
            buf_xsize=min(ref.width, 128), buf_ysize=min(ref.height, 128)).astype(np.float64)
        finite = sample[np.isfinite(sample) & (sample != 0)]
        return finite.size > 0 and float(np.percentile(finite, 99)) > 2.0

    def _detect_linear(self, i: int) -> bool:
        """SAR in linear power (all values >= 0) rather than dB?"""
        info = self.sar[i]
        if info.numpy_dtype.kind != "f":
            return False
        sample = self._sar_vrts[i].ReadAsArray(
            buf_xsize=min(info.width, 128), buf_ysize=min(info.height, 128))
        finite = sample[np.isfinite(sample)]
        return finite.size > 0 and float(finite.min()) >= 0

    # ----- properties ------------------------------------------------------------------------
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

    @property
    def encoding(self) -> str:
        """'reflectance' (float 0..1) or 'dn' (stored values x scale + offset)."""
        return "dn" if self.reference.numpy_dtype.kind != "f" or self._msi_float_dn else "reflectance"

    # ----- reading -----------------------------------------------------------------------------
    def _scale_offset(self, file_band: int) -> tuple[float, float]:
        ref = self.reference
        if self.encoding == "reflectance":
            return 1.0, 0.0
        scale, offset = ref.scales[file_band], ref.offsets[file_band]
        return (scale, offset) if scale != 1.0 or offset != 0.0 else (DN_SCALE, 0.0)

    def to_reflectance(self, raw: np.ndarray) -> np.ndarray:
        """(…, B, h, w) stored values -> (…, C, h, w) float32 reflectance in model band order."""
        picked = raw[..., self.band_index, :, :].astype(np.float32)
        for c, b in enumerate(self.band_index):
            scale, offset = self._scale_offset(b)
            picked[..., c, :, :] = picked[..., c, :, :] * scale + offset
        return picked

    def from_reflectance(self, refl: np.ndarray) -> np.ndarray:
        """(…, C, h, w) reflectance -> stored values of the model's bands, in the file's type."""
        out = np.empty(refl.shape, dtype=np.float64)
        for c, b in enumerate(self.band_index):
            scale, offset = self._scale_offset(b)
            out[..., c, :, :] = (refl[..., c, :, :] - offset) / scale
        dtype = self.reference.numpy_dtype
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            nodata = self.reference.nodata[0]
            low = info.min
            if dtype.kind == "u" and (nodata is None or nodata == 0):
                low = 1  # DN 0 means no data in Sentinel-2: a filled pixel must never read as it
            out = np.clip(np.rint(out), low, info.max)
        return out.astype(dtype)

    def read_missing(self, t: int, x0: int, y0: int, w: int, h: int,
                     raw: np.ndarray | None = None) -> np.ndarray:
        """(h, w) bool: cloudy per the mask, or no data / NaN in any model band."""
        if raw is None:
            raw = self.msi[t]._ds.ReadAsArray(x0, y0, w, h)  # type: ignore[attr-defined]
            raw = raw.reshape(-1, h, w)
        ref = self.reference
        picked = raw[self.band_index]
        missing = np.zeros((h, w), dtype=bool)
        if picked.dtype.kind == "f":
            missing |= ~np.isfinite(picked).all(0)
        for c, b in enumerate(self.band_index):
            nd = ref.nodata[b]
            if nd is None and picked.dtype.kind in "u":
                nd = 0
            if nd is not None and not np.isnan(nd):
                missing |= picked[c] == nd
        mask = self.masks[t]
        if mask is not None:
            values = mask._ds.GetRasterBand(1).ReadAsArray(x0, y0, w, h)  # type: ignore
            missing |= scl_to_mask(values, self.scl_classes) if mask.is_scl \
                else binary_to_mask(values)  # type: ignore[attr-defined]
        return missing

    def read(self, x0: int, y0: int, w: int, h: int,
             sar_indices: list[int] | None = None, dates: list[int] | None = None) -> StackWindow:
        """Read a window of all (or the chosen) dates."""
        dates = list(range(len(self.msi))) if dates is None else dates
        raw = np.stack([self.msi[t]._ds.ReadAsArray(x0, y0, w, h).reshape(-1, h, w)  # type: ignore
                        for t in dates])
        missing = np.stack([self.read_missing(t, x0, y0, w, h, raw[k]) for k, t in enumerate(dates)])
        msi = self.to_reflectance(raw)
        msi[np.broadcast_to(missing[:, None], msi.shape)] = 0.0
        sar = None
        if self.sar and sar_indices is not None:
            sar = np.stack([self._read_sar(i, x0, y0, w, h) for i in sar_indices])
        return StackWindow(msi=msi, missing=missing, sar=sar, raw=raw)

    def _read_sar(self, i: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        info = self.sar[i]
        vrt = self._sar_vrts[i]
        bands = [vrt.GetRasterBand(b + 1).ReadAsArray(x0, y0, w, h).astype(np.float32)
                 for b in info.sar_bands]  # type: ignore[attr-defined]
        out = np.stack(bands)
        if info.numpy_dtype.kind in "iu":
            scale = info.scales[0] if info.scales[0] != 1.0 else DN_SCALE
            nd = info.nodata[0]
            if nd is not None:
                out[out == nd] = np.nan
            out = out * scale + info.offsets[0]
        elif self._sar_linear[i]:
            with np.errstate(divide="ignore", invalid="ignore"):
                out = 10.0 * np.log10(np.where(out > 0, out, np.nan))
        return out

    def cloud_fractions(self) -> list[float]:
        """Fraction of missing pixels per MSI date (whole raster, read in strips)."""
        fractions = []
        strip = max(1, min(self.height, 4_000_000 // max(self.width, 1)))
        for t in range(len(self.msi)):
            count = 0
            for y0 in range(0, self.height, strip):
                h = min(strip, self.height - y0)
                count += int(self.read_missing(t, 0, y0, self.width, h).sum())
            fractions.append(count / (self.width * self.height))
        return fractions

    def close(self) -> None:
        self._sar_vrts = []
        self._datasets = []
        for info in [*self.msi, *[m for m in self.masks if m], *self.sar]:
            info._ds = None  # type: ignore[attr-defined]

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
