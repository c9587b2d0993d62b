"""Training on the user's own season: what QGIS's "Train on local stacks" runs.

From a season of per-date rasters (6 or more MSI dates, optional masks and SAR) it forms date
windows, holds the latest ``validation_fraction`` of them out (in time, so validation dates are
never trained on), fine-tunes the bundled model (or a given one, or a new one from scratch for
any band set), and writes the best model plus an HTML report comparing it with temporal
interpolation on the held-out windows.
"""
from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass

from ..read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING
from ..model.config import OURS, ModelConfig, mts_vit, smts_vit
from ..model.device import choose_device
from ..errors import CloudFillError
from .evaluate import fill_interpolation, fill_model, pooled_scores
from ..progress import Feedback, SubFeedback, sigterm_as_cancel
from .report import training_report
from ..read.stack import Stack
from .train import SAMPLES_PER_STEP, TrainResult, TrainSettings, make_model, train
from .data import DateWindow, Season, explain_no_windows, fixed_samples, form_windows, load_season
from ..model.network import SmtsVit
from ..model.weights import bundled_weights_path, read_weights_info
from ..write.folder_lock import check_writable
from ..write.output_set import write_text

#: Seasons larger than this in memory (float32 reflectance) are refused: clip a smaller area.
MAX_SEASON_BYTES = 3 * 1024 ** 3
REPORT_CLOUDS = (10, 30, 50)


@dataclass
class LocalTrainingResult:
    output: str
    report: str | None
    steps: int
    best_val_mse: float
    heldout: list[dict]


def _stack_bands(msi: list[str]) -> tuple[str, ...]:
    with Stack([msi[0]]) as s:
        return tuple(s.bands or ())


@sigterm_as_cancel()
def train_on_stacks(msi: list[str], output: str, masks: list[str | None] | None = None,
                    sar: list[str] | None = None, init_model: str | None = None,
                    from_scratch: bool = False, max_minutes: float = 10.0, epochs: int = 20,
                    validation_fraction: float = 0.2, seed: int = 0, device: str = "auto",
                    report: str | None = None, msi_dates: list | None = None,
                    sar_dates: list | None = None, batch_size: int = SAMPLES_PER_STEP,
                    scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                    feedback: Feedback | None = None,
                    cloud_buffer: int = DEFAULT_CLOUD_BUFFER) -> LocalTrainingResult:
    """Fine-tune (default) or train from scratch on a season; write the model and a report.
    SIGTERM stops it like a cancel (the best model so far is written, and it says so) where
    no one else handles the signal (qgis_process, a script).

    Args:
        msi: one raster per MSI date (6 or more), dates in names/metadata or ``msi_dates``.
        output: the weights file to write (atomically); ``output + '.ckpt'`` is the checkpoint a
            later run with the same output resumes from.
        masks, sar: optional per-date cloud masks and SAR rasters.
        init_model: weights to start from; None means the bundled model (SMTS-ViT with SAR,
            MTS-ViT without).
        from_scratch: a new model for the stack's own bands instead of fine-tuning.
        max_minutes, epochs: whichever comes first ends training. One epoch draws as many crops
            as fit into all training windows.
        validation_fraction: share of the date windows, the latest in time, held out.
        seed: makes the run repeatable on CPU.
        report: HTML report path (optional).
        cloud_buffer: pixels by which SCL clouds and shadows are grown, as Reconstruct does:
            hazy rims SCL misses stay out of the loss and out of the clear pixels the model
            learns from. 0/1 masks are not grown.
    """
    feedback = feedback or Feedback()
    check_writable(os.path.dirname(os.path.abspath(output)))
    if report:
        check_writable(os.path.dirname(os.path.abspath(report)))
    if not 0.0 <= validation_fraction < 1.0:
        raise CloudFillError("The validation fraction must be between 0 and 1 (for example 0.2).")
    if len(msi) < 6 and not from_scratch:
        raise CloudFillError(f"{len(msi)} MSI dates were given; training needs at least 6.")
    config, init = _model_config(msi, sar, init_model, from_scratch)
    season = _read_season(msi, masks, sar, config, scl_classes, msi_dates, sar_dates,
                          cloud_buffer, feedback)
    train_w, val_w = _split_windows(season, config, validation_fraction, feedback)

    h, w = season.msi.shape[-2:]
    crop = min(config.window, (min(h, w) // config.patch) * config.patch)
    if crop < config.patch * 2:
        raise CloudFillError(f"The rasters are {w} x {h} px; training needs at least "
                             f"{config.patch * 2} x {config.patch * 2}.")
    crops_per_window = max(1, math.ceil(h / crop) * math.ceil(w / crop))
    steps_per_epoch = max(1, math.ceil(len(train_w) * crops_per_window / batch_size))
    settings = TrainSettings(max_steps=max(1, epochs * steps_per_epoch), max_minutes=max_minutes,
                             batch_size=batch_size, lr=1e-3 if from_scratch else 2e-4, seed=seed,
                             validate_every=max(1, min(steps_per_epoch, 100)), crop=crop)
    dev = choose_device(device, feedback)
    model = make_model(config, [season], seed, init)
    start = "Training from scratch" if init is None else "Fine-tuning " + os.path.basename(init)
    feedback.info(f"{start}: {config.variant}, bands {', '.join(config.msi_bands)}; up to "
                  f"{epochs} epochs of {steps_per_epoch} steps or {max_minutes:g} minutes.")
    meta = {"training_data": {"msi": [os.path.basename(p) for p in msi],
                              "dates": [d.isoformat() for d in season.dates],
                              "sar": [os.path.basename(p) for p in sar or []],
                              "windows_train": len(train_w), "windows_heldout": len(val_w)},
            "fine_tuned_from": os.path.basename(init) if init else None}
    result = train(model, [season], train_w, val_w or train_w, settings, output,
                   extra_metadata=meta, feedback=SubFeedback(feedback, 0.0, 0.9), device=dev,
                   origin=os.path.basename(init) if init else "scratch")

    heldout = _score_heldout(season, val_w or train_w, crop, seed, result.model, dev, config,
                             feedback)
    feedback.progress(1.0)
    if report:
        _write_report(report, output, config, init, season, train_w, val_w, result, heldout,
                      f"Seed {seed}; crops of {crop} px; batch {batch_size}.")
    return LocalTrainingResult(output, report, result.steps, result.best_val, heldout)


def _model_config(msi: list[str], sar: list[str] | None, init_model: str | None,
                  from_scratch: bool) -> tuple[ModelConfig, str | None]:
    """The configuration of the model to train and the weights it starts from (None: from
    scratch, for the stack's own bands at the bundled model's size)."""
    if from_scratch:
        bands = _stack_bands(msi)
        config = (smts_vit if sar else mts_vit)(msi_bands=bands, **OURS)
        base = read_weights_info(bundled_weights_path(bool(sar)))[0].config \
            if os.path.exists(bundled_weights_path(bool(sar))) else config
        config = config.replace(width=base.width, depth=base.depth, heads=base.heads)
        init = None
    else:
        init = init_model or bundled_weights_path(uses_sar=bool(sar))
        config = read_weights_info(init)[0].config
        if config.uses_sar and not sar:
            raise CloudFillError(f"The starting model '{os.path.basename(init)}' uses SAR but no "
                                 "SAR rasters were given: add SAR, or start from the MTS-ViT "
                                 "weights, or train from scratch.")
    if len(msi) < config.msi_dates:
        raise CloudFillError(f"{len(msi)} MSI dates were given; the model needs windows of "
                             f"{config.msi_dates} dates, so at least {config.msi_dates}.")
    return config, init


def _read_season(msi: list[str], masks: list[str | None] | None, sar: list[str] | None,
                 config: ModelConfig, scl_classes: tuple[int, ...], msi_dates: list | None,
                 sar_dates: list | None, cloud_buffer: int, feedback: Feedback) -> Season:
    """The whole season in memory, refused when it would not fit or has no clear pixel."""
    feedback.info("Reading the season...")
    with Stack(list(msi)[:1]) as first:
        estimate = first.width * first.height * len(msi) * len(config.msi_bands) * 4
    if estimate > MAX_SEASON_BYTES:
        raise CloudFillError(f"The season would take {estimate / 1024 ** 3:.1f} GB in memory; "
                             f"training reads it whole. Clip the rasters to a smaller area "
                             f"(under {MAX_SEASON_BYTES / 1024 ** 3:.0f} GB).")
    season = load_season(list(msi), masks, list(sar or []) or None, config.msi_bands,
                         scl_classes, msi_dates=msi_dates, sar_dates=sar_dates,
                         cloud_buffer=cloud_buffer)
    feedback.check()
    if season.missing.all():
        raise CloudFillError("Every pixel of every MSI date is cloudy or has no data: there are "
                             "no clear pixels to learn from.")
    return season


def _split_windows(season: Season, config: ModelConfig, validation_fraction: float,
                   feedback: Feedback) -> tuple[list[DateWindow], list[DateWindow]]:
    """The season's date windows, the latest ``validation_fraction`` held out; no training
    window shares a date with a held-out one."""
    windows = form_windows(season, config)
    if not windows:
        raise CloudFillError("No training window could be formed: "
                             + explain_no_windows(season, config) + ".")
    n_val = int(round(len(windows) * validation_fraction)) if validation_fraction > 0 else 0
    if validation_fraction > 0 and len(windows) > 1:
        n_val = min(max(n_val, 1), len(windows) - 1)
    cut = len(windows) - n_val
    train_w, val_w = windows[:cut], windows[cut:]
    if val_w:
        # No validation window may share a date with a training window.
        first_val = min(val_w[0].msi)
        train_w = [w for w in train_w if max(w.msi) < first_val] or train_w[:1]
    feedback.info(f"{len(season.dates)} MSI dates ({season.dates[0]} .. {season.dates[-1]}), "
                  f"{len(season.sar_dates)} SAR dates: {len(windows)} date windows, "
                  f"{len(train_w)} for training, {len(val_w)} held out.")
    if not val_w:
        feedback.warn("No window is held out: the report's metrics are on training windows.")
    return train_w, val_w


def _score_heldout(season: Season, eval_w: list[DateWindow], crop: int, seed: int,
                   model: SmtsVit, dev, config: ModelConfig, feedback: Feedback) -> list[dict]:
    """The trained model and interpolation on synthetic clouds over the held-out windows, at
    each of :data:`REPORT_CLOUDS`: the report's rows."""
    heldout = []
    for n in REPORT_CLOUDS:
        feedback.check()
        samples = fixed_samples([season], eval_w, crop, n, seed + 1000 + n)
        base = pooled_scores(fill_interpolation(samples), samples)
        mod = pooled_scores(fill_model(model.eval(), samples, dev), samples)
        for name, s in (("temporal interpolation", base), (config.variant, mod)):
            row = {"clouds": n, "method": name, "mse": s.mse, "sam": s.sam, "psnr": s.psnr,
                   "ssim": s.ssim}
            if s is mod and base.mse > 0:
                row["vs_interpolation"] = f"{100 * (mod.mse / base.mse - 1):+.0f} %"
            heldout.append(row)
        feedback.info(f"{n} clouds: masked MSE {mod.mse:.5f} ({config.variant}) vs "
                      f"{base.mse:.5f} (interpolation)")
    return heldout


def _write_report(report: str, output: str, config: ModelConfig, init: str | None,
                  season: Season, train_w: list[DateWindow], val_w: list[DateWindow],
                  result: TrainResult, heldout: list[dict], note: str) -> None:
    """The HTML training report: what was trained on what, and the held-out scores."""
    summary = {"model written": output, "variant": config.variant,
               "bands": ", ".join(config.msi_bands),
               "started from": os.path.basename(init) if init else "scratch",
               "season": f"{season.dates[0]} .. {season.dates[-1]} ({len(season.dates)} "
                         f"MSI dates, {len(season.sar_dates)} SAR dates)",
               "windows": f"{len(train_w)} training, {len(val_w)} held out (latest in time)",
               "steps": f"{result.steps} ({result.stopped_by}), {result.seconds:.0f} s",
               "best validation masked MSE": f"{result.best_val:.5f} at step {result.best_step}",
               "written": dt.datetime.now().strftime("%Y-%m-%d %H:%M")}
    page = training_report("SMTS CloudFill training report", summary, result.history, heldout,
                           [note], held_out=bool(val_w))
    write_text(report, page)
