"""Sentinel-2 products as users download them, opened with GDAL's SENTINEL2 driver.

A product is a SAFE ``.zip`` or ``.SAFE`` folder from the Copernicus Browser (the driver reads
both, the zip through ``/vsizip/``), or a folder of one file per band (GeoTIFF or JPEG 2000,
date and band in the file names, as the Semi-Automatic Classification Plugin downloads them).

What the products really hold is checked here: the processing level (Level-1C is refused: the
model is trained on Level-2A surface reflectance), the processing baseline and its
``BOA_ADD_OFFSET`` (-1000 from baseline 04.00, January 2022, which GDAL 3.6 does not report:
it is read from ``MTD_MSIL2A.xml``), the acquisition date and the orbit.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field

from osgeo import gdal

from ..errors import CloudFillError
from ..gdal_scope import gdal_exceptions
# The ten bands of the model, in its order: what Prepare writes.
from ..model.config import S2_BANDS
from ..read.dates import parse_date
from ..read.raster import canonical_band

#: Band ids of the offsets in MTD_MSIL2A.xml (BOA_ADD_OFFSET band_id="...").
BAND_ID = {"B01": 0, "B02": 1, "B03": 2, "B04": 3, "B05": 4, "B06": 5, "B07": 6, "B08": 7,
           "B8A": 8, "B09": 9, "B10": 10, "B11": 11, "B12": 12}
#: Native resolution (m) of each model band.
NATIVE_RES = {b: (10 if b in ("B02", "B03", "B04", "B08") else 20) for b in S2_BANDS}

_MTD = re.compile(r"(^|/)(MTD_MSIL(1C|2A)\.xml|S2._\w+_MTD_SAFL(1C|2A)\.xml)$", re.IGNORECASE)
_BAND_FILE = re.compile(r"(?<![A-Za-z0-9])(B0?[1-9]|B8A|B1[0-2]|SCL)(?:_(\d\d)m)?\.(tif|tiff|jp2)$",
                        re.IGNORECASE)


@dataclass
class BandSource:
    """One band of a product: a GDAL dataset name and the band number in it (from 1)."""

    dataset: str
    band: int


@dataclass
class S2Product:
    """A Sentinel-2 L2A product found on disk, not yet read."""

    path: str
    name: str
    date: dt.date
    time: str = ""
    level: str = "L2A"
    baseline: str | None = None
    #: Added to each band's stored DN to get reflectance x quantification (BOA_ADD_OFFSET).
    offsets: dict[str, float] = field(default_factory=dict)
    quantification: float = 10000.0
    #: Band name -> its sources (one per UTM zone the product is delivered in).
    bands: dict[str, list[BandSource]] = field(default_factory=dict)
    spacecraft: str = ""
    orbit_direction: str = ""

    @property
    def has_offset(self) -> bool:
        return any(v != 0 for v in self.offsets.values())


def product_root(path: str) -> str:
    """The product a chosen file belongs to: the .SAFE folder of any file inside one (its
    MTD_MSIL2A.xml included), the folder of a per-band file, else ``path`` itself.

    QGIS's multi-file picker adds a folder as every file in it, and users pick a SAFE folder by
    its metadata file or a per-band download by its band files: all of them mean the product.
    """
    if not os.path.isfile(path) or zipfile.is_zipfile(path):
        return path
    folder = os.path.dirname(os.path.abspath(path))
    for _ in range(6):  # <product>.SAFE/GRANULE/<granule>/IMG_DATA/R10m/<band>.jp2
        try:
            if any(_MTD.search(n) for n in os.listdir(folder)):
                return folder
        except OSError:
            break
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if _BAND_FILE.search(os.path.basename(path)):
        return os.path.dirname(os.path.abspath(path))
    return path


def find_products(paths: list[str]) -> list[str]:
    """The products among ``paths``: each a SAFE zip or folder, an MTD_MSIL*.xml, or a folder
    of per-band files; a folder holding several products stands for all of them; files of one
    product (see :func:`product_root`) stand for it once."""
    found: list[str] = []
    roots = []
    for path in paths:
        root = product_root(path) if os.path.exists(path) else path
        if root not in roots:
            roots.append(root)
    for path in roots:
        if not os.path.exists(path):
            raise CloudFillError(f"Sentinel-2 product '{path}' does not exist.")
        if os.path.isdir(path) and not _is_product_folder(path):
            inner = sorted(os.path.join(path, n) for n in os.listdir(path)
                           if n.lower().endswith((".zip", ".safe"))
                           or (os.path.isdir(os.path.join(path, n))
                               and _is_product_folder(os.path.join(path, n))))
            if not inner:
                raise CloudFillError(
                    f"'{path}' holds no Sentinel-2 product: expected SAFE .zip files or .SAFE "
                    "folders (as the Copernicus Browser downloads them), or one file per band "
                    "(B02 ... B12 and SCL in the names).")
            found += inner
        else:
            found.append(path)
    return found


def _is_product_folder(path: str) -> bool:
    names = os.listdir(path)
    return any(_MTD.search(n) for n in names) or \
        sum(1 for n in names if _BAND_FILE.search(n)) >= 4


def open_product(path: str) -> S2Product:
    """What ``path`` holds; a :class:`CloudFillError` naming it when it is not a usable
    Level-2A product."""
    with gdal_exceptions():
        if os.path.isdir(path) and not any(_MTD.search(n) for n in os.listdir(path)):
            return _open_band_folder(path)
        return _open_safe(path)


def _locate_mtd(path: str) -> tuple[str, bytes]:
    """(GDAL name of the product metadata file, its bytes)."""
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if _MTD.search(n))
        mtd = os.path.join(path, names[0])
        with open(mtd, "rb") as f:
            return mtd, f.read()
    if path.lower().endswith(".xml"):
        with open(path, "rb") as f:
            return path, f.read()
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            members = sorted((m for m in zf.namelist() if _MTD.search(m)), key=len)
            if not members:
                raise CloudFillError(
                    f"'{path}' is a zip file but not a Sentinel-2 product: it holds no "
                    "MTD_MSIL2A.xml.")
            return f"/vsizip/{os.path.abspath(path)}/{members[0]}", zf.read(members[0])
    raise CloudFillError(f"'{path}' is not a Sentinel-2 product: give a SAFE .zip, a .SAFE "
                         "folder, its MTD_MSIL2A.xml or a folder of per-band files.")


def _xml_values(root: ET.Element, tag: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == tag]


def _open_safe(path: str) -> S2Product:
    mtd, content = _locate_mtd(path)
    name = os.path.basename(path.rstrip("/\\"))
    try:
        root = ET.fromstring(content)
    except ET.ParseError as e:
        raise CloudFillError(f"Sentinel-2 product '{path}': its metadata file is damaged "
                             f"({e}).") from None
    level_text = " ".join(e.text or "" for e in _xml_values(root, "PROCESSING_LEVEL")) + \
        " " + " ".join(e.text or "" for e in _xml_values(root, "PRODUCT_TYPE")) + " " + \
        os.path.basename(mtd)
    if re.search(r"Level-1C|MSI1C|MSIL1C|SAFL1C", level_text, re.IGNORECASE):
        raise CloudFillError(
            f"'{path}' is a Level-1C product (top-of-atmosphere reflectance). The model is "
            "trained on Level-2A (surface reflectance, with the SCL cloud classification): "
            "download the L2A product of this date instead.")
    if not re.search(r"Level-2A|MSI2A|MSIL2A|SAFL2A", level_text, re.IGNORECASE):
        raise CloudFillError(f"'{path}' is not a Sentinel-2 Level-2A product (processing "
                             "level not found in its metadata).")
    start = next((e.text for e in _xml_values(root, "PRODUCT_START_TIME") if e.text), "") or \
        next((e.text for e in _xml_values(root, "DATATAKE_SENSING_START") if e.text), "")
    date = parse_date(start) or parse_date(name)
    if date is None:
        raise CloudFillError(f"Sentinel-2 product '{path}': no acquisition date in its "
                             "metadata or name.")
    baseline = next((e.text.strip() for e in _xml_values(root, "PROCESSING_BASELINE")
                     if e.text), None)
    quant = next((float(e.text) for e in _xml_values(root, "BOA_QUANTIFICATION_VALUE")
                  if e.text), 10000.0)
    offsets = {b: 0.0 for b in S2_BANDS}
    for e in _xml_values(root, "BOA_ADD_OFFSET"):
        band = next((b for b, i in BAND_ID.items() if str(i) == e.get("band_id")), None)
        if band in offsets and e.text:
            offsets[band] = float(e.text)
    if baseline and _baseline_number(baseline) >= 4.0 and not any(offsets.values()):
        raise CloudFillError(
            f"Sentinel-2 product '{path}' has processing baseline {baseline} but no "
            "BOA_ADD_OFFSET in its metadata: its reflectance offset is unknown, so it cannot be "
            "put on the scale of the other dates. Download the product again.")
    product = S2Product(
        path=path, name=name, date=date, time=start, level="L2A", baseline=baseline,
        offsets=offsets, quantification=quant,
        spacecraft=next((e.text for e in _xml_values(root, "SPACECRAFT_NAME") if e.text), ""),
        orbit_direction=next((e.text for e in _xml_values(root, "SENSING_ORBIT_DIRECTION")
                              if e.text), ""))
    try:
        ds = gdal.Open(mtd)
    except RuntimeError as e:
        raise CloudFillError(f"GDAL cannot open Sentinel-2 product '{path}': {e}") from None
    subs = [s for s, _ in ds.GetSubDatasets() if re.search(r":(10|20)m:", s)]
    ds = None
    for sub in subs:
        said: list[str] = []
        gdal.PushErrorHandler(lambda _class, _number, message: said.append(message))
        try:
            sds = gdal.Open(sub)
        except RuntimeError as e:
            raise CloudFillError(f"Sentinel-2 product '{path}' is damaged: GDAL cannot read "
                                 f"'{sub}' ({e}).") from None
        finally:
            gdal.PopErrorHandler()
        _check_band_files(product, said)
        for i in range(sds.RasterCount):
            bname = sds.GetRasterBand(i + 1).GetMetadataItem("BANDNAME") or ""
            if not bname:
                continue
            key = canonical_band(bname) if re.fullmatch(r"B\d{1,2}|B8A|SCL", bname.upper()) else ""
            if key in S2_BANDS or key == "SCL":
                product.bands.setdefault(key, []).append(BandSource(sub, i + 1))
        sds = None
    _check_bands(product)
    return product


#: How GDAL's SENTINEL2 driver says that a band file the product lists is not there (it then
#: reads that band as 0, no data: a missing SCL made a clear date 100 % cloudy, a missing band
#: "no data over the extent").
_MISSING_TILE = re.compile(r"Tile (.+) not found on filesystem")


def _check_band_files(product: S2Product, said: list[str]) -> None:
    """Refuse a product whose files of the bands we read (the model's and SCL) are missing,
    naming the file: GDAL opens it without them and reads those bands as no data."""
    for message in said:
        found = _MISSING_TILE.search(message)
        band = _BAND_FILE.search(found.group(1)) if found else None
        if band and canonical_band(band.group(1)) in (*S2_BANDS, "SCL"):
            raise CloudFillError(
                f"Sentinel-2 product '{product.path}' is incomplete: the file of its band "
                f"{canonical_band(band.group(1))}, '{os.path.basename(found.group(1))}', is missing. "
                "Download (or unzip) the product again.")


def _baseline_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _check_bands(product: S2Product) -> None:
    missing = [b for b in S2_BANDS if b not in product.bands]
    if missing:
        raise CloudFillError(f"Sentinel-2 product '{product.path}' lacks band(s) "
                             f"{', '.join(missing)}: the model needs {', '.join(S2_BANDS)}.")


def _open_band_folder(path: str) -> S2Product:
    files = sorted(n for n in os.listdir(path) if _BAND_FILE.search(n))
    product = S2Product(path=path, name=os.path.basename(path.rstrip("/\\")), date=dt.date.min)
    dates = set()
    for n in files:
        m = _BAND_FILE.search(n)
        key = canonical_band(m.group(1))
        if key in S2_BANDS or key == "SCL":
            product.bands.setdefault(key, []).append(BandSource(os.path.join(path, n), 1))
            d = parse_date(n)
            if d is not None:
                dates.add(d)
    dates.discard(None)
    if not dates:
        d = parse_date(product.name)
        dates = {d} if d else set()
    if len(dates) != 1:
        raise CloudFillError(
            f"The per-band folder '{path}' holds " +
            ("no date in its file names" if not dates else
             f"several dates ({', '.join(sorted(d.isoformat() for d in dates))})") +
            ": put one date per folder, with the date in the file or folder names.")
    product.date = dates.pop()
    product.offsets = {b: 0.0 for b in S2_BANDS}
    _check_bands(product)
    for band, sources in product.bands.items():
        if len(sources) > 1:
            raise CloudFillError(f"The per-band folder '{path}' has {len(sources)} files for "
                                 f"band {band}: keep one.")
    return product
