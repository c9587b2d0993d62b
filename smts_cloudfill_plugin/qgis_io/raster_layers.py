"""What a raster layer of the project is: a Sentinel-2 date, a Sentinel-1 date or a mask, of
which date, and whether a run wrote it.

Read from the layer's name and bands and its file's name and metadata, one rule for the date
table, the algorithms' checks, Parcel time series' defaults and the swipe's labels.
"""
from __future__ import annotations

import datetime as dt
import os

from osgeo import gdal
from qgis.core import QgsRasterLayer

from ..core.gdal_scope import gdal_exceptions
from ..core.read.dates import date_from_file, parse_date
from ..core.read.raster import canonical_band
from ..core.write.names import MODEL_KEY, OUTPUT_SUFFIXES
from .layer_sources import layer_file

MSI, SAR = "S2", "S1"


def file_metadata(path: str) -> tuple[dict, list[str]]:
    """A raster file's metadata and canonical band descriptions ({} and [] when GDAL cannot
    read it)."""
    try:
        with gdal_exceptions():
            ds = gdal.Open(path)
            return (ds.GetMetadata() or {},
                    [canonical_band(ds.GetRasterBand(i + 1).GetDescription() or "")
                     for i in range(ds.RasterCount)])
    except (RuntimeError, AttributeError):
        return {}, []


def _file_metadata(layer: QgsRasterLayer) -> tuple[dict, list[str]]:
    return file_metadata(layer_file(layer))


def is_our_output(layer: QgsRasterLayer) -> bool:
    """A filled raster or filled-pixel mask written by a run (by name or by its metadata)."""
    stem = os.path.splitext(os.path.basename(layer_file(layer)))[0]
    if stem.endswith(OUTPUT_SUFFIXES) or layer.name().endswith(OUTPUT_SUFFIXES):
        return True
    return MODEL_KEY in _file_metadata(layer)[0]


def layer_date(layer: QgsRasterLayer) -> dt.date | None:
    """From the layer name, else the file name, else the file's date metadata."""
    return parse_date(layer.name()) or date_from_file(layer_file(layer), _file_metadata(layer)[0])


def layer_kind(layer: QgsRasterLayer) -> str | None:
    """'S2' (multiband optical), 'S1' (VV/VH), 'mask' (one band: SCL or 0/1), or None."""
    names = {canonical_band(layer.bandName(i + 1).split(":")[-1]) for i in range(layer.bandCount())}
    descriptions = _file_metadata(layer)[1]
    text = (layer.name() + " " + " ".join(descriptions)).upper()
    if layer.bandCount() == 1:
        return "mask"
    if {"VV", "VH"} & set(descriptions) or (layer.bandCount() == 2 and "S1" in text):
        return SAR
    if layer.bandCount() >= 4 or names & {"B02", "B04", "B08"}:
        return MSI
    return None


def project_rasters(project) -> list[tuple[str | None, dt.date | None, QgsRasterLayer]]:
    """(kind, date, layer) of the project's raster layers that are not a run's outputs: what
    the date table and Parcel time series take a season from."""
    return [(layer_kind(l), layer_date(l), l) for l in project.mapLayers().values()
            if isinstance(l, QgsRasterLayer) and not is_our_output(l)]


def by_date(pairs: list) -> list:
    """(date, layer) pairs sorted by date, undated last, then by layer name."""
    return sorted(pairs, key=lambda p: (p[0] is None, p[0] or dt.date.min, p[1].name()))
