"""Training and evaluation samples from a season of per-date rasters.

A *season* is a whole stack held in memory (training stacks are small clips). From it we
form *windows*: 6 MSI dates about 10 days apart and 5 SAR dates spread over the same span.
Windows need not be clear: really cloudy pixels (SCL) stay out of the loss, synthetic clouds
(PAPER.md) hide clear pixels on top, and the model learns to give those back.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ..errors import CloudFillError
from ..model.config import ModelConfig
from ..read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING, dilate
from ..synthetic_clouds import cloud_bank, synthetic_cloud_masks
from ..read.dates import (SAR_MARGIN_DAYS, STEP_DAYS, STEP_TOLERANCE, day_numbers,
                          pick_sar_dates)
from ..read.stack import Stack

#: Windows whose dates are on average less clear than this are not worth training on.
MIN_CLEAR_FRACTION = 0.3


@dataclass
class Season:
    """A whole stack in memory: reflectance, real missing mask, SAR in dB, dates."""

    msi: np.ndarray            # (T, C, H, W) float32
    missing: np.ndarray        # (T, H, W) bool
    sar: np.ndarray | None     # (S, 2, H, W) float32 or None
    dates: list[dt.date]
    sar_dates: list[dt.date]
    name: str = ""

    @property
    def clear_fraction(self) -> np.ndarray:
        return 1.0 - self.missing.reshape(len(self.dates), -1).mean(1)


def load_season(msi: list[str], masks: list[str | None] | None, sar: list[str] | None,
                bands: tuple[str, ...], scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                name: str = "", msi_dates: list | None = None,
                sar_dates: list | None = None,
                cloud_buffer: int = DEFAULT_CLOUD_BUFFER) -> Season:
    """Read a whole stack (dates from the file names or metadata, or given, are required);
    SCL clouds and shadows grown by ``cloud_buffer`` px, as Reconstruct grows them."""
    with Stack(list(msi), masks, list(sar or []), bands=bands, scl_classes=scl_classes,
               msi_dates=msi_dates, sar_dates_given=sar_dates,
               cloud_buffer=cloud_buffer) as stack:
        for role, infos in (("MSI", stack.msi), ("SAR", stack.sar)):
            unknown = [i.name for i in infos if i.date is None]
            if unknown:
                raise CloudFillError(f"Training needs the date of every {role} raster; none found "
                                     f"in {', '.join(unknown[:3])} (put YYYYMMDD in the name).")
        order = np.argsort([i.date for i in stack.msi], kind="stable")
        window = stack.read(0, 0, stack.width, stack.height,
                            list(range(len(stack.sar))) if stack.sar else None)
        sar_order = np.argsort([i.date for i in stack.sar], kind="stable") if stack.sar else []
        return Season(msi=window.msi[order], missing=window.missing[order],
                      sar=None if window.sar is None else window.sar[sar_order],
                      dates=[stack.msi[i].date for i in order],
                      sar_dates=[stack.sar[i].date for i in sar_order], name=name)


@dataclass(frozen=True)
class DateWindow:
    """Indices into a season: the MSI dates and SAR dates of one model input."""

    season: int
    msi: tuple[int, ...]
    sar: tuple[int, ...]


def form_windows(season: Season, config: ModelConfig, season_index: int = 0,
                 step: float = STEP_DAYS, tolerance: float = STEP_TOLERANCE,
                 min_clear: float = MIN_CLEAR_FRACTION,
                 rng: np.random.Generator | None = None) -> list[DateWindow]:
    """All date windows of a season: from each start date, the next date is chosen among those
    ``step`` +- ``tolerance`` days later, preferring clear ones near ``step`` (or, with ``rng``,
    any of them at random: more distinct windows for training)."""
    days = day_numbers(season.dates) or []
    clear = season.clear_fraction
    sar_days = day_numbers([season.dates[0], *season.sar_dates])
    sar_days = sar_days[1:] if sar_days else []
    found: set[DateWindow] = set()
    for start in range(len(days)):
        if clear[start] < 0.05:
            continue
        chosen = [start]
        while len(chosen) < config.msi_dates:
            last = days[chosen[-1]]
            candidates = [j for j in range(chosen[-1] + 1, len(days))
                          if step - tolerance <= days[j] - last <= step + tolerance]
            if not candidates:
                break
            if rng is not None:
                chosen.append(int(candidates[rng.integers(len(candidates))]))
            else:
                chosen.append(min(candidates, key=lambda j: abs(days[j] - last - step) / step
                                  + (1.0 - clear[j])))
        if len(chosen) < config.msi_dates or clear[chosen].mean() < min_clear:
            continue
        sar_idx: tuple[int, ...] = ()
        if config.uses_sar:
            span = [days[chosen[0]] - SAR_MARGIN_DAYS, days[chosen[-1]] + SAR_MARGIN_DAYS]
            inside = [i for i, d in enumerate(sar_days) if span[0] <= d <= span[1]]
            if len(inside) < config.sar_dates:
                continue
            picked = pick_sar_dates([days[c] for c in chosen], [sar_days[i] for i in inside],
                                    config.sar_dates)
            sar_idx = tuple(inside[i] for i in picked)
        found.add(DateWindow(season_index, tuple(chosen), sar_idx))
    return sorted(found, key=lambda w: (w.season, w.msi))


def window_pool(season: Season, config: ModelConfig, season_index: int = 0, variants: int = 0,
                seed: int = 0) -> list[DateWindow]:
    """The greedy windows plus ``variants`` rounds of randomly chosen date sequences (deduplicated):
    the same dates, many more distinct 6-date combinations to learn from."""
    pool = set(form_windows(season, config, season_index))
    rng = np.random.default_rng(seed)
    for _ in range(variants):
        pool.update(form_windows(season, config, season_index, rng=rng))
    return sorted(pool, key=lambda w: (w.season, w.msi, w.sar))


def explain_no_windows(season: Season, config: ModelConfig) -> str:
    """Why a season gave no window, in words for the user."""
    n = len(season.dates)
    if n < config.msi_dates:
        return f"the season has {n} MSI dates; the model needs {config.msi_dates}"
    if config.uses_sar and len(season.sar_dates) < config.sar_dates:
        return f"the season has {len(season.sar_dates)} SAR dates; the model needs {config.sar_dates}"
    return (f"no {config.msi_dates} dates are {STEP_DAYS:g} +- {STEP_TOLERANCE:g} days apart with "
            f"on average {MIN_CLEAR_FRACTION:.0%} clear pixels"
            + (f" and {config.sar_dates} SAR dates within {SAR_MARGIN_DAYS:g} days of their span"
               if config.uses_sar else ""))


@dataclass
class Sample:
    """One model input with its truth: what the training step and the evaluation consume."""

    msi: np.ndarray        # (T, C, h, w) truth reflectance (0 where really missing)
    real: np.ndarray       # (T, h, w) really missing (no truth)
    hidden: np.ndarray     # (T, h, w) synthetic clouds
    sar: np.ndarray | None  # (S, 2, h, w)
    days: np.ndarray | None = None  # (T,) days since the season's start, for interpolation

    @property
    def input_missing(self) -> np.ndarray:
        return self.real | self.hidden

    @property
    def scored(self) -> np.ndarray:
        """Pixels with truth that the model had to fill: where losses and metrics count."""
        return self.hidden & ~self.real


def cut_sample(seasons: list[Season], window: DateWindow, y0: int, x0: int, size: int,
               hidden: np.ndarray) -> Sample:
    s = seasons[window.season]
    ys, xs = slice(y0, y0 + size), slice(x0, x0 + size)
    msi = s.msi[list(window.msi)][..., ys, xs]
    sar = s.sar[list(window.sar)][..., ys, xs] if window.sar and s.sar is not None else None
    days = np.array([(s.dates[i] - s.dates[0]).days for i in window.msi], dtype=np.float64)
    return Sample(msi=msi, real=s.missing[list(window.msi)][..., ys, xs], hidden=hidden, sar=sar,
                  days=days)


#: How training hides clear pixels (ours; the paper uses only the first): the paper's clouds on
#: every date, the same clouds on 1..2 dates only (the case users meet most: one cloudy date
#: between clear neighbours), and real SCL cloud shapes of other dates of the season (dilated by
#: 0..2 px) on 1..all dates. Shares of the samples. ``whole_dates`` (not in the default mix;
#: issue 18's fine-tuning) hides 1..3 whole dates, half the time in a row: overcast
#: acquisitions, where only SAR sees that day.
SCENARIOS: dict[str, float] = {"paper": 0.4, "few_dates": 0.3, "real_shapes": 0.3}
WHOLE_DATE_MIX: dict[str, float] = {"paper": 0.3, "few_dates": 0.2, "real_shapes": 0.2,
                                    "whole_dates": 0.3}


def whole_date_mask(dates: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(dates, size, size): 1..3 whole dates hidden (at most all but two), half the time in a
    row."""
    n = int(rng.integers(1, min(3, dates - 2) + 1))
    if rng.random() < 0.5:
        start = int(rng.integers(0, dates - n + 1))
        which = list(range(start, start + n))
    else:
        which = [int(t) for t in rng.choice(dates, n, replace=False)]
    hidden = np.zeros((dates, size, size), dtype=bool)
    hidden[which] = True
    return hidden


def hidden_masks(season: Season, dates: int, size: int, rng: np.random.Generator,
                 cloud_counts: tuple[int, int], scenario: str) -> np.ndarray:
    """(dates, size, size) synthetic clouds for one training sample under ``scenario``."""
    if scenario == "whole_dates":
        return whole_date_mask(dates, size, rng)
    bank = cloud_bank(size)
    hidden = np.zeros((dates, size, size), dtype=bool)
    if scenario == "real_shapes":
        frac = season.missing.reshape(len(season.dates), -1).mean(1)
        donors = np.flatnonzero((frac > 0.02) & (frac < 0.9))
        if len(donors):
            h, w = season.missing.shape[-2:]
            for t in rng.choice(dates, int(rng.integers(1, dates + 1)), replace=False):
                y0, x0 = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
                shape = season.missing[rng.choice(donors), y0:y0 + size, x0:x0 + size]
                hidden[t] = dilate(np.rot90(shape, int(rng.integers(4))), int(rng.integers(0, 3)))
            return hidden
        scenario = "paper"
    count = int(rng.integers(cloud_counts[0], cloud_counts[1] + 1))
    which = range(dates) if scenario == "paper" else \
        rng.choice(dates, min(dates, int(rng.integers(1, 3))), replace=False)
    for t in which:
        hidden[t] = bank.mask(count, rng)
    return hidden


def random_sample(seasons: list[Season], windows: list[DateWindow], size: int,
                  rng: np.random.Generator, cloud_counts: tuple[int, int] = (5, 50),
                  scenarios: dict[str, float] | None = None) -> Sample:
    """A random window, crop, flip/rotation and set of hidden pixels (training)."""
    w = windows[rng.integers(len(windows))]
    season = seasons[w.season]
    h, wd = season.msi.shape[-2:]
    y0, x0 = rng.integers(0, h - size + 1), rng.integers(0, wd - size + 1)
    mix = scenarios or SCENARIOS
    names = list(mix)
    probs = np.array([mix[n] for n in names], dtype=float)
    scenario = names[int(rng.choice(len(names), p=probs / probs.sum()))]
    hidden = hidden_masks(season, len(w.msi), size, rng, cloud_counts, scenario)
    sample = cut_sample(seasons, w, y0, x0, size, hidden)
    k, flip = int(rng.integers(4)), bool(rng.integers(2))

    def aug(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        a = np.rot90(a, k, axes=(-2, -1))
        return np.ascontiguousarray(a[..., ::-1] if flip else a)

    return Sample(aug(sample.msi), aug(sample.real), aug(sample.hidden), aug(sample.sar),
                  sample.days)


def fixed_samples(seasons: list[Season], windows: list[DateWindow], size: int, cloud_count: int,
                  seed: int, whole_dates: bool = False) -> list[Sample]:
    """A deterministic evaluation set: each window's centre crop under seeded synthetic clouds;
    with ``whole_dates``, every other window has 1..3 whole dates hidden instead."""
    rng = np.random.default_rng(seed)
    out = []
    for i, w in enumerate(windows):
        h, wd = seasons[w.season].msi.shape[-2:]
        y0, x0 = (h - size) // 2, (wd - size) // 2
        hidden = synthetic_cloud_masks(len(w.msi), size, size, cloud_count, rng)
        if whole_dates and i % 2:
            hidden = whole_date_mask(len(w.msi), size, rng)
        out.append(cut_sample(seasons, w, y0, x0, size, hidden))
    return out


def band_statistics(seasons: list[Season]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std of each MSI band over clear pixels, and of each SAR band: the normalisation."""
    vals = [s.msi.transpose(1, 0, 2, 3)[:, ~s.missing] for s in seasons]
    msi = np.concatenate(vals, axis=1)
    sar_list = [s.sar.transpose(1, 0, 2, 3).reshape(s.sar.shape[1], -1) for s in seasons
                if s.sar is not None]
    if sar_list:
        sar = np.concatenate(sar_list, axis=1)
        sar_mean, sar_std = np.nanmean(sar, 1), np.nanstd(sar, 1)
    else:
        sar_mean = sar_std = np.zeros(0)
    return msi.mean(1), msi.std(1) + 1e-6, sar_mean, sar_std + 1e-6
