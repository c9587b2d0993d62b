"""A parcel's season as a Parcel time series table holds it: its dates, values, status and
expected errors, the interpolation between its observed dates, and the curve as CSV.

The table is what ``smts_cloudfill:parcel_series`` wrote: any layer with ``parcel``, ``date``,
``<index>_mean`` and ``status`` fields.
"""
from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass

from qgis.core import QgsFeatureRequest, QgsVectorLayer

from ..core.read.dates import parse_date

OBSERVED, PARTLY, FILLED, NO_DATA = "observed", "partly filled", "filled", "no data"


@dataclass
class ProfilePoint:
    date: dt.date
    mean: float | None
    status: str
    filled_share: float
    error: float | None   # in index units (the table's <index>_error)


@dataclass
class Profile:
    parcel: object
    index: str
    points: list[ProfilePoint]

    def interpolation(self) -> list[tuple[dt.date, float]]:
        """Temporal interpolation between the observed dates, at every date between the first
        and last observed one (what a user would have without the fill)."""
        seen = [(p.date.toordinal(), p.mean) for p in self.points
                if p.status == OBSERVED and p.mean is not None]
        if len(seen) < 2:
            return []
        out = []
        for p in self.points:
            x = p.date.toordinal()
            if seen[0][0] <= x <= seen[-1][0]:
                j = next(i for i in range(1, len(seen)) if seen[i][0] >= x)
                (x0, y0), (x1, y1) = seen[j - 1], seen[j]
                out.append((p.date, y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)))
        return out


def table_index(layer: QgsVectorLayer) -> str | None:
    """The index a Parcel time series table holds (its ``<index>_mean`` field), or None when the
    layer is not such a table."""
    names = [f.name() for f in layer.fields()]
    if not {"parcel", "date", "status"} <= set(names):
        return None
    means = [n[:-len("_mean")] for n in names if n.endswith("_mean")]
    return means[0] if means else None


def _number(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if v != v else v


def profile_from_table(layer: QgsVectorLayer, parcel) -> Profile | None:
    """The rows of one parcel, in date order; None when the table has none."""
    index = table_index(layer)
    if index is None:
        return None
    field = layer.fields().field("parcel")
    literal = str(parcel).replace("'", "''")
    value = literal if field.isNumeric() else f"'{literal}'"
    points = []
    for f in layer.getFeatures(QgsFeatureRequest().setFilterExpression(f'"parcel" = {value}')):
        day = parse_date(str(f["date"]))
        if day is None:
            continue
        error_field = f"{index}_error"
        points.append(ProfilePoint(day, _number(f[f"{index}_mean"]), str(f["status"]),
                                   _number(f["filled_share"]) or 0.0,
                                   _number(f[error_field]) if error_field in layer.fields().names()
                                   else None))
    if not points:
        return None
    return Profile(parcel, index, sorted(points, key=lambda p: p.date))


def write_profile_csv(path: str, profile: Profile) -> None:
    """The curve as a CSV: date, the index's mean, status, filled share, expected error and the
    interpolation's value."""
    interp = dict(profile.interpolation())
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["parcel", "date", f"{profile.index}_mean", "status", "filled_share",
                    f"{profile.index}_error", "interpolation"])
        for q in profile.points:
            w.writerow([profile.parcel, q.date.isoformat(), "" if q.mean is None else q.mean,
                        q.status, q.filled_share, "" if q.error is None else q.error,
                        interp.get(q.date, "")])
