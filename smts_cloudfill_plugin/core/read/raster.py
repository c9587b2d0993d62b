"""One raster file: what it says of itself, and the file opened.

:class:`RasterInfo` is what a file declares (grid, CRS, bands, data type, no data, scaling,
date): enough to check it against others and to write a file like it. :class:`RasterSource` is
the file opened: it owns its GDAL dataset, reads windows of it (a damaged file names itself
instead of raising GDAL's traceback) and closes it. A cloud mask (:class:`MaskSource`) and a
SAR raster (:class:`SarSource`) are sources with what a stack finds out about them.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from typing import Callable, TypeVar, cast

import numpy as np
from osgeo import gdal, osr

from .. import gdal_scope
from ..errors import CloudFillError
from .clouds import BINARY, MaskMeaning
from .dates import date_from_file


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
    role: str = "Raster"

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

    @property
    def band_names(self) -> list[str] | None:
        """The canonical band names when every band has one and none repeats, else None (the
        bands can then only be told apart by position)."""
        names = [canonical_band(d) for d in self.descriptions]
        return names if all(names) and len(set(names)) == len(names) else None

    def same_crs(self, other: RasterInfo) -> bool:
        """Both in one CRS (however their WKT spells it), or both without one."""
        a, b = self.crs_wkt, other.crs_wkt
        if not a or not b:
            return a == b
        return bool(osr.SpatialReference(wkt=a).IsSame(osr.SpatialReference(wkt=b)))

    def same_grid(self, other: RasterInfo) -> bool:
        """Same size, origin and pixel size, to a thousandth of a pixel (:func:`same_grid`)."""
        return same_grid((self.width, self.height), self.geotransform,
                         (other.width, other.height), other.geotransform)


#: Two grids are one when origin and pixel size agree to this share of a pixel.
GRID_TOLERANCE_PX = 1e-3


def same_grid(size: tuple[int, int], geotransform: tuple[float, ...],
              other_size: tuple[int, int], other_geotransform: tuple[float, ...]) -> bool:
    """Same size (width, height), origin and pixel size, to :data:`GRID_TOLERANCE_PX` of a
    pixel: the one rule of "on one grid", for files (:meth:`RasterInfo.same_grid`) and for
    anything else that has a size and a GDAL geotransform (a QGIS layer's extent and size)."""
    tol = abs(geotransform[1]) * GRID_TOLERANCE_PX
    return tuple(size) == tuple(other_size) and all(
        abs(x - y) <= tol for x, y in zip(geotransform, other_geotransform))


#: What :func:`remembered` finds.
T = TypeVar("T")
#: Any kind of source (RasterSource, MaskSource, SarSource): what opening one gives back.
Source = TypeVar("Source", bound="RasterSource")


@dataclass
class RasterSource(RasterInfo):
    """A raster file opened read-only; it owns its GDAL dataset until :meth:`close`.

    Whoever opens a source closes it (a stack closes its own, in the order it opened them): left
    to the garbage collector, a dataset may be closed after GDAL has shut down (QGIS's exit),
    and the process crashes.
    """

    dataset: gdal.Dataset | None = field(default=None, repr=False, compare=False)

    @classmethod
    def open(cls: type[Source], path: str, role: str) -> Source:
        """Open ``path`` as ``role`` (e.g. 'MSI date 1', which errors name); a clear
        :class:`CloudFillError` when GDAL cannot, or when the file is cut off."""
        with gdal_scope.gdal_exceptions():
            return cls._open(path, role)

    @classmethod
    def _open(cls: type[Source], path: str, role: str) -> Source:
        if not os.path.exists(path):
            raise CloudFillError(f"{role} '{path}' does not exist.")
        try:
            ds = gdal.Open(path, gdal.GA_ReadOnly)
        except RuntimeError as e:
            raise CloudFillError(f"Cannot read {role} '{path}' as a raster: {e}") from None
        if ds is None or ds.RasterCount == 0:
            ds = None  # closed now, not kept open by the traceback (see read)
            raise CloudFillError(f"Cannot read {role} '{path}' as a raster: it has no bands.")
        bands = [ds.GetRasterBand(i + 1) for i in range(ds.RasterCount)]
        md = ds.GetMetadata() or {}
        source = cls(
            path=path, width=ds.RasterXSize, height=ds.RasterYSize,
            geotransform=tuple(ds.GetGeoTransform()), crs_wkt=ds.GetProjection() or "",
            band_count=ds.RasterCount, gdal_type=bands[0].DataType,
            nodata=[b.GetNoDataValue() for b in bands],
            descriptions=[b.GetDescription() or "" for b in bands],
            scales=[b.GetScale() or 1.0 for b in bands],
            offsets=[b.GetOffset() or 0.0 for b in bands],
            metadata=md, date=date_from_file(path, md), role=role, dataset=ds)
        ds = bands = None  # the source holds the dataset; this frame holds none (see read)
        problem = remembered("truncation", source.path, lambda: _truncation(source))
        if problem:
            source.close()
            raise CloudFillError(problem)
        return source

    @property
    def block_size(self) -> tuple[int, int]:
        """The file's block (tile or strip) width and height: reading whole blocks decodes
        each once."""
        bx, by = self.dataset.GetRasterBand(1).GetBlockSize()
        return bx, by

    def read(self, x0: int = 0, y0: int = 0, w: int | None = None, h: int | None = None,
             band: int | None = None, **buffer) -> np.ndarray:
        """A window of the file (all bands, or band ``band`` from 1); ``buffer`` takes GDAL's
        ``buf_xsize``/``buf_ysize`` to read a thumbnail."""
        return self._read(self.dataset, x0, y0, self.width - x0 if w is None else w,
                          self.height - y0 if h is None else h, band, buffer)

    def _read(self, ds: gdal.Dataset, x0: int, y0: int, w: int, h: int, band: int | None,
              buffer: dict) -> np.ndarray:
        """A window of ``ds`` (this file's dataset or a view of it); a damaged file gives a
        :class:`CloudFillError` naming it, not GDAL's traceback.

        The error's traceback keeps this frame's variables alive, and a caught error often ends
        in a reference cycle: no dataset may stay in them, or the garbage collector closes it
        late, after GDAL has shut down (QGIS's exit), and the process crashes.
        """
        data = None
        try:
            data = (ds if band is None else ds.GetRasterBand(band)).ReadAsArray(
                x0, y0, w, h, **buffer)
            problem = "" if data is not None else gdal.GetLastErrorMsg()  # GDAL without exceptions
        except RuntimeError as e:
            problem = str(e)
        ds = None
        if data is None:
            raise CloudFillError(f"Cannot read {self.role} '{self.path}': the file is "
                                 f"damaged or truncated ({_first_line(problem)}).")
        return data

    def close(self) -> None:
        """Close the dataset (at once, not when the garbage collector gets to it)."""
        self.dataset = None


def file_problem(path: str, role: str) -> str | None:
    """Why a raster file cannot be used (missing, not a raster, truncated), in the words of
    :meth:`RasterSource.open`; None when it opens. For a caller about to hand the file to
    software that would report it less clearly: QGIS, loading a truncated file as a layer,
    prints GDAL's raw read errors before any message of ours."""
    try:
        RasterSource.open(path, role).close()
    except CloudFillError as e:
        return str(e)
    return None


@dataclass
class MaskSource(RasterSource):
    """An opened cloud mask (one band).

    Attributes:
        meaning: what its values mean (scene classes, two values, a probability); found from
            a thumbnail by the stack once the mask is checked to lie on its grid.
    """

    meaning: MaskMeaning = field(default_factory=lambda: MaskMeaning(BINARY))

    @property
    def is_scl(self) -> bool:
        """Sentinel-2 scene classes (True) or another kind of mask (False)."""
        return self.meaning.is_scl


@dataclass
class SarSource(RasterSource):
    """An opened SAR raster (VV and VH), read through a warped view on another grid.

    Attributes:
        vv_vh: the file's band indices (from 0) of VV and VH: by description when named,
            else VV first.
        warped: the raster on the MSI grid (a GDAL warped VRT, set by the stack); closed
            before the dataset it reads from.
    """

    vv_vh: tuple[int, int] = field(init=False)
    warped: gdal.Dataset | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [canonical_band(d) for d in self.descriptions]
        vv, vh = (names.index(b) if b in names else i for i, b in enumerate(("VV", "VH")))
        self.vv_vh = (vv, vh)

    def read_warped(self, x0: int, y0: int, w: int, h: int, band: int | None = None,
                    **buffer) -> np.ndarray:
        """A window of :attr:`warped`, in MSI grid pixels (as :meth:`read`)."""
        return self._read(self.warped, x0, y0, w, h, band, buffer)

    def close(self) -> None:
        """The warped view first, then the dataset it reads from."""
        self.warped = None
        super().close()


def _truncation(source: RasterSource) -> str | None:
    """Why a GeoTIFF is refused when its blocks reach past the end of the file (a cut-off copy
    or download), or None.

    GDAL opens such a file without a word and fails only when the missing part is read, and a
    file cut before its georeferencing tags even opens as "in no CRS": checking where each
    block ends (from the file's directory, nothing is read) names the real problem at once.
    """
    ds = source.dataset
    if ds.GetDriver().ShortName != "GTiff":
        return None
    try:
        size = os.stat(source.path).st_size
    except OSError:
        return None
    interleaved = (ds.GetMetadataItem("INTERLEAVE", "IMAGE_STRUCTURE") or "") == "PIXEL"
    for i in range(1 if interleaved else ds.RasterCount):
        band = ds.GetRasterBand(i + 1)
        bx, by = band.GetBlockSize()
        for y in range(-(-source.height // by)):
            for x in range(-(-source.width // bx)):
                offset = band.GetMetadataItem(f"BLOCK_OFFSET_{x}_{y}", "TIFF")
                length = band.GetMetadataItem(f"BLOCK_SIZE_{x}_{y}", "TIFF")
                if offset and length and int(offset) + int(length) > size:
                    return (f"{source.role} '{source.path}' is truncated ({size} bytes, but its "
                            f"pixel data runs to byte {int(offset) + int(length)}): copy or "
                            "download it again.")
    return None


#: What was found of a file by reading it, by what it is and :func:`file_key`.
_FACTS: dict[tuple[str, tuple[str, int, int]], object] = {}


def file_key(path: str) -> tuple[str, int, int] | None:
    """(absolute path, size, modification time): what a file's facts are remembered by; None
    when the file cannot be stat'ed."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return os.path.abspath(path), stat.st_size, stat.st_mtime_ns


def remembered(what: str, path: str, find: Callable[[], T]) -> T:
    """``find()`` once per file and process while the file is unchanged: the checks and
    thumbnails behind opening a stack (truncation, an SCL mask's kind, a date's encoding, SAR's
    units) are not repeated by the stacks that every worker opens again for every pass (a
    thumbnail of a whole-tile mask decodes the whole file)."""
    key = file_key(path)
    if key is None:
        return find()
    if (what, key) not in _FACTS:
        _FACTS[(what, key)] = find()
    return cast(T, _FACTS[(what, key)])


def _first_line(message) -> str:
    return str(message).strip().splitlines()[0] if str(message).strip() else "no details"
