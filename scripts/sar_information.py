#!/usr/bin/env python3
"""How much does Sentinel-1 say about what temporal interpolation misses? (issue 18, item 3)

A whole cloudy date is filled from its neighbours; whatever the crop did in between that a
straight line misses is the fill's error, and SAR of that day is the only other witness. On the
whole record of each site (``--site``; default both: no model is involved, so the training
part may be used), for every mostly clear date ``t`` between mostly
clear neighbours ``a`` and ``b`` (at most 40 days apart) with a SAR acquisition within 3 days of
each: the NDVI residual ``NDVI_t - lerp(NDVI_a, NDVI_b)`` against the SAR residual
``SAR_t - lerp(SAR_a, SAR_b)`` (VV, VH in dB), per pixel, and after a box average over k x k
pixels (speckle: averaged in linear power). Prints, per date and on average, the correlation r
and r^2 (the share of the residual's variance a linear use of SAR could explain).

    python scripts/sar_information.py [--site 0000280849BAC91C]
"""
from __future__ import annotations

import collections
import os
import sys

import numpy as np
from scipy.ndimage import uniform_filter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundled_models as bm  # noqa: E402

MAX_CLOUD = 0.05
MAX_GAP_DAYS = 40
MAX_SAR_OFFSET_DAYS = 3
BOXES = (1, 3, 5, 9)


def ndvi(x: np.ndarray) -> np.ndarray:
    """NDVI of a (10, H, W) reflectance stack in the bundled band order (B04 2, B08 6)."""
    return (x[6] - x[2]) / (x[6] + x[2] + 1e-6)


def box_db(x: np.ndarray, k: int) -> np.ndarray:
    """(C, H, W) dB averaged over k x k pixels in linear power."""
    if k == 1:
        return x
    lin = 10 ** (np.nan_to_num(x, nan=-25.0) / 10)
    return 10 * np.log10(np.stack([uniform_filter(c, k) for c in lin]))


def main() -> None:
    sites = sys.argv[sys.argv.index("--site") + 1:][:1] if "--site" in sys.argv else \
        [bm.SITE_A, bm.SITE_B]
    for site in sites:
        print(f"== site {site}")
        report(bm.site_season(site))


def report(s) -> None:
    cloud = s.missing.reshape(len(s.dates), -1).mean(1)
    clear = [i for i in range(len(s.dates)) if cloud[i] <= MAX_CLOUD]
    mdays = np.array([(d - s.dates[0]).days for d in s.dates])
    sdays = np.array([(d - s.dates[0]).days for d in s.sar_dates])

    def sar_at(day: float) -> tuple[np.ndarray, float]:
        j = int(np.argmin(abs(sdays - day)))
        return s.sar[j], abs(sdays[j] - day)

    results: dict[int, dict[str, list[float]]] = {k: collections.defaultdict(list) for k in BOXES}
    for a, t, b in zip(clear, clear[1:], clear[2:]):
        if mdays[b] - mdays[a] > MAX_GAP_DAYS:
            continue
        (sa, da), (st, dt), (sb, db) = sar_at(mdays[a]), sar_at(mdays[t]), sar_at(mdays[b])
        if max(da, dt, db) > MAX_SAR_OFFSET_DAYS:
            continue
        w = (mdays[t] - mdays[a]) / (mdays[b] - mdays[a])
        optical = ndvi(s.msi[t]) - ((1 - w) * ndvi(s.msi[a]) + w * ndvi(s.msi[b]))
        for k in BOXES:
            radar = box_db(st, k) - ((1 - w) * box_db(sa, k) + w * box_db(sb, k))
            o = optical if k == 1 else uniform_filter(optical, k)
            ok = np.isfinite(o) & np.isfinite(radar).all(0)
            for c, name in enumerate(("VV", "VH")):
                r = float(np.corrcoef(o[ok], radar[c][ok])[0, 1])
                results[k][name].append(r)
                if k == 1:
                    print(f"{s.dates[t]} {name}: r {r:+.2f} (NDVI residual sd {o[ok].std():.3f})")
    for k in BOXES:
        line = ", ".join(f"{n} mean r {np.mean(v):+.3f}, mean r^2 {np.mean(np.square(v)):.3f}"
                         for n, v in results[k].items())
        print(f"box {k} px ({len(results[k]['VV'])} dates): {line}")


if __name__ == "__main__":
    main()
