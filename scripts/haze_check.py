"""Measure the haze check (core/read/haze.py) on the real seasons: its noise, what it flags.

For both WorldCereal sites (../shared/data), the whole season as a stack (every date, SCL
classes 0, 3, 8, 9, 10, 11 missing, clouds and shadows grown by the default 3 px, as Reconstruct
reads them):

- the noise of the haze index (blue - 0.5 red): 1.4826 x the median absolute deviation of its
  temporal interpolation residual (each clear pixel against the linear interpolation, true
  days, of its nearest clear observations before and after) over the clear pixels of the dates
  with no SCL cloud, shadow or cirrus at all;
- for each k: the share of checkable clear pixels flagged on those wholly clear dates (false
  flags, mostly: dates SCL calls clear, though some are hazy by eye) and on partly cloudy dates,
  and per SCL class of the flagged pixels;
- per date (at --k): cloud share, share flagged;
- with --pictures DIR: PNGs of the flags over true colour for the dates named by --dates.

    python scripts/haze_check.py [../shared/data/worldcereal] [--k 4] [--pictures out/haze]
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from convert_worldcereal import S2_BANDS, find_file, open_product, read_s2  # noqa: E402

from smts_cloudfill_plugin.core.read.clouds import (DEFAULT_CLOUD_BUFFER,  # noqa: E402
                                                    DEFAULT_SCL_MISSING, GROWN_CLASSES,
                                                    scl_missing)
from smts_cloudfill_plugin.core.read.haze import (DEFAULT_HAZE_K, HAZE_BANDS,  # noqa: E402
                                                  HAZE_NOISE, haze_flags, haze_index, neighbours)

KS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0)
PICTURE_DATES = ("2019-04-16", "2019-04-26", "2019-05-06", "2019-05-16", "2019-06-10",
                 "2018-12-17", "2018-06-10", "2018-07-13", "2018-05-26")


def load_site(site_dir: str):
    p10 = open_product(find_file(site_dir, "S2_L2A_10m_*.nc"), ["B02", "B03", "B04", "B08"])
    p20 = open_product(find_file(site_dir, "S2_L2A_20m_*.nc"),
                       [b for b in S2_BANDS if b not in ("B02", "B03", "B04", "B08")] + ["SCL"])
    w, h = p10.grid.width, p10.grid.height
    stacks, scls = [], []
    for t in range(len(p10.times)):
        s, scl = read_s2(p10, p20, t, (0, 0, w, h))
        stacks.append(s)
        scls.append(scl)
    refl = np.stack(stacks).astype(np.float32) * 1e-4
    days = np.array([(t - p10.times[0]).total_seconds() / 86400 for t in p10.times])
    names = [str(t.date()) for t in p10.times]
    return refl, np.stack(scls), days, names


def interpolation_residual(index: np.ndarray, missing: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(T, h, w) index minus the linear interpolation (true days) of its nearest clear
    observations before and after; NaN where missing or without both."""
    t = index.shape[0]
    before, after = neighbours(~missing)
    ok = ~missing & (before >= 0) & (after < t)
    b, a = np.clip(before, 0, t - 1), np.clip(after, 0, t - 1)
    vb = np.take_along_axis(index, b, 0)
    va = np.take_along_axis(index, a, 0)
    db, da = days[b], days[a]
    now = days.reshape(-1, 1, 1)
    f = np.where(da > db, (now - db) / np.where(da > db, da - db, 1), 0.5)
    return np.where(ok, index - ((1 - f) * vb + f * va), np.nan)


def true_colour(refl: np.ndarray) -> np.ndarray:
    rgb = np.stack([refl[S2_BANDS.index(b)] for b in ("B04", "B03", "B02")], -1)
    return np.clip(rgb / 0.18, 0, 1) ** (1 / 1.4)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default="../shared/data/worldcereal")
    ap.add_argument("--k", type=float, default=DEFAULT_HAZE_K, help="k of the per-date table")
    ap.add_argument("--pictures", help="folder for PNGs of the flags")
    ap.add_argument("--dates", default=",".join(PICTURE_DATES))
    args = ap.parse_args(argv)
    sites = sorted(d for d in glob.glob(os.path.join(args.data, "*")) if os.path.isdir(d))
    idx = [S2_BANDS.index(b) for b in HAZE_BANDS]
    data = []
    residuals = []
    for site in sites:
        refl, scl, days, names = load_site(site)
        missing = np.stack([scl_missing(s, DEFAULT_SCL_MISSING, DEFAULT_CLOUD_BUFFER)
                            for s in scl]) | (refl == 0).any(1)
        cloud_share = np.isin(scl, GROWN_CLASSES).mean((1, 2))
        index = haze_index(refl[:, idx])[:, 0]
        res = interpolation_residual(index, missing, days)
        whole = cloud_share == 0
        residuals.append(res[whole][np.isfinite(res[whole])])
        data.append((os.path.basename(site), refl, scl, missing, cloud_share, names))
    r = np.concatenate(residuals)
    noise = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    print(f"haze index blue - 0.5 red: interpolation residual on wholly clear dates, "
          f"{r.size} pixels: median {np.median(r):+.4f}, noise (1.4826 MAD) {noise:.4f} "
          f"(HAZE_NOISE in the code: {HAZE_NOISE})")

    print("\nshare of checkable clear pixels flagged (k x HAZE_NOISE):")
    print(f"{'k':>4} {'threshold':>9}  {'wholly clear dates':>18}  {'partly cloudy dates':>19}  "
          "flagged pixels by SCL class (all dates)")
    flags_at = {}
    for k in KS:
        counts = {"whole": [0, 0], "part": [0, 0]}
        by_class: dict[int, int] = {}
        for name, refl, scl, missing, cloud_share, _ in data:
            flags = haze_flags(refl[:, idx], missing, k=k)
            flags_at[(name, k)] = flags
            before, after = neighbours(~missing)
            checkable = ~missing & (before >= 0) & (after < len(missing))
            for key, sel in (("whole", cloud_share == 0),
                             ("part", (cloud_share > 0) & (cloud_share < 0.99))):
                counts[key][0] += int(flags[sel].sum())
                counts[key][1] += int(checkable[sel].sum())
            for c in np.unique(scl[flags]):
                by_class[int(c)] = by_class.get(int(c), 0) + int((scl[flags] == c).sum())
        total = max(1, sum(by_class.values()))
        classes = ", ".join(f"{c}: {100 * n / total:.0f} %" for c, n in sorted(by_class.items()))
        print(f"{k:4.1f} {k * HAZE_NOISE:9.4f}  {100 * counts['whole'][0] / counts['whole'][1]:17.2f}%"
              f"  {100 * counts['part'][0] / counts['part'][1]:18.2f}%  {classes}")

    k = args.k
    print(f"\nper date at k = {k:g} (threshold {k * HAZE_NOISE:.4f}):")
    for name, refl, scl, missing, cloud_share, names in data:
        flags = flags_at.get((name, k))
        if flags is None:
            flags = haze_flags(refl[:, idx], missing, k=k)
        print(f"{name}")
        for t, date in enumerate(names):
            clear = ~missing[t]
            if flags[t].any() or cloud_share[t] == 0:
                classes = ", ".join(f"{c}: {int((scl[t][flags[t]] == c).sum())}"
                                    for c in np.unique(scl[t][flags[t]]))
                print(f"  {date}  SCL cloud {100 * cloud_share[t]:5.1f} %  flagged "
                      f"{100 * flags[t].sum() / max(1, clear.sum()):5.1f} % of its clear pixels"
                      f"{'  (' + classes + ')' if classes else ''}")
        if args.pictures:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            os.makedirs(args.pictures, exist_ok=True)
            shown = [d for d in args.dates.split(",") if d in names]
            if not shown:
                continue
            fig, axes = plt.subplots(len(shown), 2, figsize=(6, 3 * len(shown)), squeeze=False)
            for row, date in enumerate(shown):
                t = names.index(date)
                rgb = true_colour(refl[t])
                axes[row][0].imshow(rgb, interpolation="nearest")
                axes[row][0].set_title(date, fontsize=8)
                over = rgb.copy()
                over[missing[t]] = (1, 1, 0)
                over[flags[t]] = (1, 0, 0)
                axes[row][1].imshow(over, interpolation="nearest")
                axes[row][1].set_title(f"SCL missing (yellow), haze k={k:g} (red): "
                                       f"{100 * flags[t].mean():.1f} %", fontsize=8)
            for a in axes.ravel():
                a.set_xticks([]), a.set_yticks([])
            fig.tight_layout()
            path = os.path.join(args.pictures, f"haze_{name}_k{k:g}.png")
            fig.savefig(path, dpi=80)
            plt.close(fig)
            print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
