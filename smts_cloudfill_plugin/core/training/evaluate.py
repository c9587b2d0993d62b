"""Held-out evaluation: each method fills the same hidden pixels, scored on reflectance.

Methods are the temporal interpolation baseline and any SMTS-ViT configuration. Scores pool all
scored pixels of all samples (hidden by clouds, with truth), so a sample weighs by how much of
it had to be filled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .baseline import interpolate_temporal
from ..metrics import image_metrics
from ..model.network import SmtsVit
from .data import DateWindow, Sample, Season, cut_sample

CLOUD_COUNTS = (10, 20, 30, 40, 50)

#: Samples per model call when scoring (evaluation and validation), by default.
SAMPLES_PER_CALL = 16


@dataclass
class Scores:
    mse: float
    sam: float
    psnr: float
    ssim: float
    pixels: int

    def row(self) -> str:
        return f"{self.mse:.5f} | {self.sam:.4f} | {self.psnr:.2f} | {self.ssim:.4f}"


class ScoreSums:
    """Metrics summed over scored pixels (each sample weighs by its pixel count); sums of
    several sets (or processes) add up with :meth:`merge`."""

    def __init__(self) -> None:
        self.sums = np.zeros(4)  # mse, sam, ssim (each x pixels), pixels

    def add(self, pred: np.ndarray, sample: Sample) -> None:
        m = image_metrics(pred, sample.msi, sample.scored)
        if m["pixels"]:
            self.sums += [m["mse"] * m["pixels"], m["sam"] * m["pixels"],
                          m["ssim"] * m["pixels"], m["pixels"]]

    def merge(self, other: "ScoreSums") -> None:
        self.sums += other.sums

    def scores(self) -> Scores:
        n = int(self.sums[3])
        mse, sam, ssim = self.sums[:3] / max(n, 1)
        return Scores(float(mse), float(sam),
                      10 * np.log10(1.0 / mse) if mse > 0 else float("inf"), float(ssim), n)


def pooled_scores(preds: list[np.ndarray], samples: list[Sample]) -> Scores:
    """Metrics over the scored pixels of all samples, weighted by pixel count."""
    sums = ScoreSums()
    for p, s in zip(preds, samples):
        sums.add(p, s)
    return sums.scores()


def fill_interpolation(samples: list[Sample]) -> list[np.ndarray]:
    """Each sample filled by the baseline (:func:`.baseline.interpolate_temporal`), float32."""
    return [interpolate_temporal(s.msi, s.input_missing, s.days).astype(np.float32)
            for s in samples]


def fill_model(model: SmtsVit, samples: list[Sample], device: torch.device | str = "cpu",
               batch_size: int = SAMPLES_PER_CALL) -> list[np.ndarray]:
    """Model prediction where the input was missing, the input elsewhere."""
    out = []
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            msi = torch.from_numpy(np.stack([s.msi for s in chunk])).to(device)
            missing = torch.from_numpy(np.stack([s.input_missing for s in chunk])).to(device)
            sar = None if chunk[0].sar is None or not model.config.uses_sar else \
                torch.from_numpy(np.stack([s.sar for s in chunk])).to(device)
            days = None if any(s.days is None for s in chunk) else torch.tensor(
                np.stack([s.days - s.days[0] for s in chunk]), dtype=torch.float32, device=device)
            pred = model(msi, missing, sar, days).cpu().numpy()
            for s, p in zip(chunk, pred):
                out.append(np.where(s.input_missing[:, None], p, s.msi))
    return out


def real_cloud_samples(seasons: list[Season], windows: list[DateWindow], size: int, seed: int,
                       low: float = 0.1, high: float = 0.7) -> list[Sample]:
    """Clear dates hidden under the real (SCL) cloud shapes of other, really cloudy dates.

    Real cloudy pixels have no truth, so each date of a window takes the missing mask of a
    randomly chosen partly cloudy date (``low``..``high`` cloudy) of the same season.
    """
    rng = np.random.default_rng(seed)
    out = []
    for w in windows:
        season = seasons[w.season]
        frac = season.missing.reshape(len(season.dates), -1).mean(1)
        donors = [t for t in range(len(season.dates)) if low <= frac[t] <= high]
        h, wd = season.msi.shape[-2:]
        y0, x0 = (h - size) // 2, (wd - size) // 2
        picks = rng.choice(donors, size=len(w.msi), replace=len(donors) < len(w.msi))
        hidden = season.missing[picks][..., y0:y0 + size, x0:x0 + size]
        out.append(cut_sample(seasons, w, y0, x0, size, hidden))
    return out
