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

from qgis.core import QgsRasterLayer
from qgis.PyQt.QtCore import QCoreApplication

from ..core.read.dates import mask_of_another_date, out_of_order
from .raster_layers import MSI, SAR, is_our_output, layer_date


def tr(text: str) -> str:
    """``text`` in the user's language (Qt's translation context: StackChecks)."""
    return QCoreApplication.translate("StackChecks", text)


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
        return RowCheck(False, tr("no layer"))
    if date is None:
        return RowCheck(False, tr("no date: type one (YYYY-MM-DD)"))
    if kind == MSI and is_our_output(layer):
        return RowCheck(False, tr("a result of an earlier run, not an input"))
    if kind == MSI and reference is not None and layer is not reference:
        if layer.crs() != reference.crs():
            return RowCheck(False, tr("CRS {crs}, most dates {most}").format(
                crs=layer.crs().authid(), most=reference.crs().authid()))
        if layer.bandCount() != reference.bandCount():
            return RowCheck(False, tr("{bands} bands, most dates {most}").format(
                bands=layer.bandCount(), most=reference.bandCount()))
        if grid_key(layer) != grid_key(reference):
            return RowCheck(False, tr("not on the grid of the other dates"))
    if mask is not None:
        problem = mask_problem(layer, mask, date)
        if problem:
            return RowCheck(False, problem)
    if kind == SAR and reference is not None and layer.crs() != reference.crs():
        return RowCheck(True, tr("ok (CRS {crs}, will be resampled)").format(
            crs=layer.crs().authid()))
    return RowCheck(True, tr("ok"))


def mask_problem(layer: QgsRasterLayer, mask: QgsRasterLayer, date: dt.date | None) -> str | None:
    """Why ``mask`` cannot be the cloud mask of ``layer`` (of ``date``, the row's date), or
    None. A mask of another date than the layer's own (else the row's) is refused by the rule
    the engine applies (``read.dates.mask_of_another_date``)."""
    if is_our_output(mask):
        return tr("mask is a filled-pixel mask of an earlier run, not a cloud mask")
    if mask.crs() != layer.crs() or (mask.width(), mask.height()) != (layer.width(), layer.height()):
        return tr("mask not on the layer's grid")
    mask_date = layer_date(mask)
    if mask_of_another_date(layer_date(layer) or date, mask_date):
        return tr("mask of another date ({date})").format(date=mask_date.isoformat())
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
            check = RowCheck(False, tr("no date in its name or metadata: give the dates "
                                       "(MSI_DATES, or the Date column of the dialog)"))
        if not check.ok:
            problems.append(f"'{layer.name()}': {check.message}")
    for i, j in out_of_order(dates):
        problems.append(tr("'{name}' ({date}) is not after '{before}' ({before_date}): give "
                           "the Sentinel-2 dates in date order, each once").format(
                               name=msi[j].name(), date=dates[j].isoformat(),
                               before=msi[i].name(), before_date=dates[i].isoformat()))
    s_dates = list(sar_dates) if sar_dates else [layer_date(l) for l in sar]
    for layer, date in zip(sar, s_dates):
        check = check_row(SAR, layer, None, date, reference)
        if date is None:
            check = RowCheck(False, tr("no date in its name or metadata: give the dates "
                                       "(SAR_DATES, or the Date column of the dialog)"))
        if not check.ok:
            problems.append(f"'{layer.name()}': {check.message}")
    return problems
