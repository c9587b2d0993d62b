"""What is wrong with a stack of project layers, said per row and checked before a run.

Shared by the dialog's date table (a message per row) and the algorithm's
``checkParameterValues`` (which blocks Run): the table cannot show "ok" for something the run
would get wrong, such as the cloud mask of another date on a cloudy row. QGIS core only (no
widgets), so qgis_process uses it too.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from osgeo import gdal
from qgis.core import QgsRasterLayer

from ..layer_sources import layer_file
from ..core.read.dates import date_from_file, mask_of_another_date, out_of_order, parse_date
from ..core.gdal_scope import gdal_exceptions
from ..core.read.raster import canonical_band
from ..core.write.names import OUTPUT_SUFFIXES

MSI, SAR = "S2", "S1"


def source_path(layer: QgsRasterLayer) -> str:
    """The file behind a raster layer (without GDAL's '|option' suffixes)."""
    return layer_file(layer)


def _file_metadata(layer: QgsRasterLayer) -> tuple[dict, list[str]]:
    """The file's metadata and canonical band descriptions ({} and [] when GDAL cannot read)."""
    try:
        with gdal_exceptions():
            ds = gdal.Open(source_path(layer))
            return (ds.GetMetadata() or {},
                    [canonical_band(ds.GetRasterBand(i + 1).GetDescription() or "")
                     for i in range(ds.RasterCount)])
    except (RuntimeError, AttributeError):
        return {}, []


def is_our_output(layer: QgsRasterLayer) -> bool:
    """A filled raster or filled-pixel mask written by a run (by name or by its metadata)."""
    import os
    stem = os.path.splitext(os.path.basename(source_path(layer)))[0]
    if stem.endswith(OUTPUT_SUFFIXES) or layer.name().endswith(OUTPUT_SUFFIXES):
        return True
    return "SMTS_MODEL" in _file_metadata(layer)[0]


def layer_date(layer: QgsRasterLayer) -> dt.date | None:
    """From the layer name, else the file name, else the file's date metadata."""
    return parse_date(layer.name()) or date_from_file(source_path(layer), _file_metadata(layer)[0])


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


def grid_key(layer: QgsRasterLayer) -> tuple:
    """CRS, size and extent: layers with equal keys share a grid."""
    e = layer.extent()
    return (layer.crs().authid() or layer.crs().toWkt(), layer.width(), layer.height(),
            tuple(round(v, 6) for v in (e.xMinimum(), e.yMinimum(), e.xMaximum(), e.yMaximum())))


def reference_layer(layers: Sequence[QgsRasterLayer | None]) -> QgsRasterLayer | None:
    """The layer on the grid (and band count) most Sentinel-2 dates share; the earliest on a
    tie. One wrong row, first or not, is the one marked, never all the good ones."""
    present = [l for l in layers if l is not None]
    if not present:
        return None
    counts = Counter((grid_key(l), l.bandCount()) for l in present)
    best = max(counts.values())
    return next(l for l in present if counts[(grid_key(l), l.bandCount())] == best)


@dataclass
class RowCheck:
    ok: bool
    message: str


def check_row(kind: str, layer: QgsRasterLayer | None, mask: QgsRasterLayer | None,
              date: dt.date | None, reference: QgsRasterLayer | None) -> RowCheck:
    """What is wrong with one row, compared with the grid most Sentinel-2 dates share."""
    if layer is None:
        return RowCheck(False, "no layer")
    if date is None:
        return RowCheck(False, "no date: type one (YYYY-MM-DD)")
    if kind == MSI and is_our_output(layer):
        return RowCheck(False, "a result of an earlier run, not an input")
    if kind == MSI and reference is not None and layer is not reference:
        if layer.crs() != reference.crs():
            return RowCheck(False, f"CRS {layer.crs().authid()}, most dates "
                                   f"{reference.crs().authid()}")
        if layer.bandCount() != reference.bandCount():
            return RowCheck(False, f"{layer.bandCount()} bands, most dates "
                                   f"{reference.bandCount()}")
        if grid_key(layer) != grid_key(reference):
            return RowCheck(False, "not on the grid of the other dates")
    if mask is not None:
        problem = mask_problem(layer, mask, date)
        if problem:
            return RowCheck(False, problem)
    if kind == SAR and reference is not None and layer.crs() != reference.crs():
        return RowCheck(True, f"ok (CRS {layer.crs().authid()}, will be resampled)")
    return RowCheck(True, "ok")


def mask_problem(layer: QgsRasterLayer, mask: QgsRasterLayer, date: dt.date | None) -> str | None:
    """Why ``mask`` cannot be the cloud mask of ``layer`` (of ``date``, the row's date), or
    None. A mask of another date than the layer's own (else the row's) is refused by the rule
    the engine applies (``read.dates.mask_of_another_date``)."""
    if is_our_output(mask):
        return "mask is a filled-pixel mask of an earlier run, not a cloud mask"
    if mask.crs() != layer.crs() or (mask.width(), mask.height()) != (layer.width(), layer.height()):
        return "mask not on the layer's grid"
    mask_date = layer_date(mask)
    if mask_of_another_date(layer_date(layer) or date, mask_date):
        return f"mask of another date ({mask_date.isoformat()})"
    return None


def stack_problems(msi: Sequence[QgsRasterLayer], masks: Sequence[QgsRasterLayer],
                   sar: Sequence[QgsRasterLayer], msi_dates: Sequence[dt.date | None] | None,
                   sar_dates: Sequence[dt.date | None] | None) -> list[str]:
    """Every problem of the stack, one line each naming the layer, as the table shows them."""
    problems = []
    dates = list(msi_dates) if msi_dates else [layer_date(l) for l in msi]
    reference = reference_layer(msi)
    for i, layer in enumerate(msi):
        mask = masks[i] if len(masks) == len(msi) else None
        check = check_row(MSI, layer, mask, dates[i], reference)
        if dates[i] is None:
            check = RowCheck(False, "no date in its name or metadata: give the dates (MSI_DATES, "
                                    "or the Date column of the dialog)")
        if not check.ok:
            problems.append(f"'{layer.name()}': {check.message}")
    for i, j in out_of_order(dates):
        problems.append(f"'{msi[j].name()}' ({dates[j].isoformat()}) is not after "
                        f"'{msi[i].name()}' ({dates[i].isoformat()}): give the Sentinel-2 dates "
                        "in date order, each once")
    s_dates = list(sar_dates) if sar_dates else [layer_date(l) for l in sar]
    for layer, date in zip(sar, s_dates):
        check = check_row(SAR, layer, None, date, reference)
        if date is None:
            check = RowCheck(False, "no date in its name or metadata: give the dates (SAR_DATES, "
                                    "or the Date column of the dialog)")
        if not check.ok:
            problems.append(f"'{layer.name()}': {check.message}")
    return problems
