"""Training entry point: the same code for `make train`, the evaluation and QGIS's
"Train on local stacks".

Deterministic for a seed on CPU (each step draws its batch from ``seed + step``, so a resumed
run continues exactly), stops at ``max_steps`` or ``max_minutes`` (whichever first), writes a
checkpoint regularly, keeps the best model on the validation set, and honours cancel by keeping
that best model. Every file is written atomically.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..model.config import ModelConfig, Normalisation
from ..errors import Cancelled, CloudFillError, Terminated
from .losses import multiscale_loss
from ..model.network import SmtsVit
from ..progress import Feedback
from .evaluate import SAMPLES_PER_CALL
from .data import DateWindow, Sample, Season, band_statistics, fixed_samples, random_sample
from ..model.weights import first_sentence, load_model, save_weights, torch_bytes
from ..write.output_set import write_bytes


#: Training samples per optimiser step, by default (Train on local stacks' batch too).
SAMPLES_PER_STEP = 8


@dataclass
class TrainSettings:
    """How long and how to train.

    Args:
        max_steps: optimiser steps (one batch each).
        max_minutes: wall-clock limit; whichever of the two comes first ends training.
        batch_size: samples per step.
        lr: peak AdamW learning rate (linear warm-up, cosine decay over ``max_steps``).
        weight_decay: AdamW weight decay.
        seed: seeds the model's initialisation and every batch.
        cloud_counts: range of synthetic cloud counts drawn per sample.
        validate_every: steps between validations (and checkpoints).
        threads: torch CPU threads (None: torch's default, all cores).
        crop: side of the training crops (None: the model's window; smaller rasters need less).
        scenarios: shares of the ways clear pixels are hidden (None:
            :data:`.data.SCENARIOS`; ``{"paper": 1}`` is the paper's recipe).
        standardised_mse: take the loss's MSE on standardised bands (ours; see :mod:`losses`).
        validation_whole_dates: every other validation window has whole dates hidden instead
            of clouds (the best step must also fill overcast dates well).
        lr_by_time: the cosine decay follows the elapsed share of ``max_minutes`` when that
            comes first (a run sized by time on hardware of unknown speed still decays).
    """

    max_steps: int = 2000
    max_minutes: float = 30.0
    batch_size: int = SAMPLES_PER_STEP
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0
    cloud_counts: tuple[int, int] = (5, 50)
    validate_every: int = 100
    validation_clouds: int = 30
    threads: int | None = None
    crop: int | None = None
    scenarios: dict | None = None
    standardised_mse: bool = True
    validation_whole_dates: bool = False
    lr_by_time: bool = False


@dataclass
class TrainResult:
    model: SmtsVit
    history: list[dict] = field(default_factory=list)
    best_val: float = math.inf
    best_step: int = 0
    steps: int = 0
    seconds: float = 0.0
    stopped_by: str = "steps"


def to_batch(samples: list[Sample], device: torch.device):
    """Stack samples into tensors: truth, input missing mask, SAR, loss weight, day offsets."""
    msi = torch.from_numpy(np.stack([s.msi for s in samples])).to(device)
    missing = torch.from_numpy(np.stack([s.input_missing for s in samples])).to(device)
    weight = torch.from_numpy(np.stack([s.scored for s in samples]).astype(np.float32)).to(device)
    sar = None
    if samples[0].sar is not None:
        sar = torch.from_numpy(np.stack([s.sar for s in samples])).to(device)
    return msi, missing, sar, weight, sample_days(samples, device)


def sample_days(samples: list[Sample], device: torch.device) -> torch.Tensor | None:
    """(B, T) day offsets from each sample's first date, or None when unknown."""
    if any(s.days is None for s in samples):
        return None
    return torch.tensor(np.stack([s.days - s.days[0] for s in samples]), dtype=torch.float32,
                        device=device)


def masked_mse(model: SmtsVit, samples: list[Sample], device: torch.device,
               batch_size: int = SAMPLES_PER_CALL) -> float:
    """Mean squared error over the hidden clear pixels of a fixed sample set."""
    total, count = 0.0, 0.0
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(samples), batch_size):
            msi, missing, sar, weight, days = to_batch(samples[i:i + batch_size], device)
            pred = model(msi, missing, sar, days)
            total += float((((pred - msi) ** 2).mean(2) * weight).sum())
            count += float(weight.sum())
    model.train()
    return total / max(count, 1.0)


def _lr_at(step: int, settings: TrainSettings, time_share: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 5 % over the steps (or, with ``lr_by_time``, over
    ``time_share``, the elapsed share of the time limit, when it is further on)."""
    warm = max(1, min(100, settings.max_steps // 10))
    if step < warm:
        return settings.lr * (step + 1) / warm
    progress = (step - warm) / max(1, settings.max_steps - warm)
    if settings.lr_by_time:
        progress = max(progress, time_share)
    return settings.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def make_model(config: ModelConfig, seasons: list[Season], seed: int,
               init_weights: str | None = None) -> SmtsVit:
    """A new model normalised on the training seasons, or one loaded to fine-tune."""
    if init_weights:
        model, info = load_model(init_weights)
        if info.config.msi_bands != config.msi_bands:
            raise CloudFillError(
                f"The starting model '{os.path.basename(init_weights)}' has bands "
                f"{', '.join(info.config.msi_bands)} but the stack has "
                f"{', '.join(config.msi_bands)}: train from scratch or pick matching weights.")
        return model.train()
    torch.manual_seed(seed)
    mean, std, sar_mean, sar_std = band_statistics(seasons)
    norm = Normalisation(tuple(map(float, mean)), tuple(map(float, std)),
                         tuple(map(float, sar_mean)) if config.uses_sar else (),
                         tuple(map(float, sar_std)) if config.uses_sar else ())
    return SmtsVit(config, norm).train()


def train(model: SmtsVit, seasons: list[Season], train_windows: list[DateWindow],
          val_windows: list[DateWindow], settings: TrainSettings, output: str,
          checkpoint: str | None = None, extra_metadata: dict | None = None,
          feedback: Feedback | None = None, device: str | torch.device = "cpu",
          origin: str | None = None) -> TrainResult:
    """Train ``model`` and write the best one (by validation masked MSE) to ``output``.

    A checkpoint at ``checkpoint`` (default ``output + '.ckpt'``) is resumed when present and
    removed after a complete run. On cancel, the best model so far is written and
    :class:`Cancelled` is raised.
    """
    feedback = feedback or Feedback()
    if not train_windows:
        raise CloudFillError("No training window could be formed from the stacks.")
    device = torch.device(device)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    run = _Training(model, seasons, train_windows, val_windows, settings, output,
                    checkpoint or output + ".ckpt", extra_metadata, feedback, device, origin)
    start_step, elapsed0 = run.resume_or_start()
    result = run.result
    t0 = time.monotonic() - elapsed0
    step = start_step
    stopped_by = "steps"
    try:
        while step < settings.max_steps:
            if (time.monotonic() - t0) / 60 > settings.max_minutes:
                stopped_by = "time"
                break
            feedback.check()
            run.step(step, (time.monotonic() - t0) / 60 / settings.max_minutes)
            step += 1
            result.steps, result.seconds = step, time.monotonic() - t0
            feedback.progress(step / settings.max_steps)
            if step % settings.validate_every == 0 or step == settings.max_steps:
                run.validate(step)
    except Cancelled as stop:
        if step > start_step:
            run.validate_last(step)
        run.save_best("cancel")
        # One message that says what happened (the generic cancel says nothing was written).
        why = "Stopped by a termination signal (SIGTERM)" if isinstance(stop, Terminated) \
            else "Cancelled"
        raise type(stop)(f"{why} at step {step}; the best model so far (step "
                         f"{result.best_step}) was written to {output}.") from None
    run.validate_last(step)
    result.stopped_by = stopped_by
    run.save_best(stopped_by)
    if os.path.exists(run.checkpoint):
        os.remove(run.checkpoint)
    return result


class _Training:
    """One training run's state between its steps (see :func:`train`): the optimiser, the
    fixed validation samples, the best weights so far and the running loss."""

    def __init__(self, model: SmtsVit, seasons: list[Season], train_windows: list[DateWindow],
                 val_windows: list[DateWindow], settings: TrainSettings, output: str,
                 checkpoint: str, extra_metadata: dict | None, feedback: Feedback,
                 device: torch.device, origin: str | None) -> None:
        self.model, self.seasons, self.settings = model, seasons, settings
        self.train_windows, self.val_windows = train_windows, val_windows
        self.output, self.checkpoint, self.extra_metadata = output, checkpoint, extra_metadata
        self.feedback, self.device, self.origin = feedback, device, origin
        self.size = settings.crop or model.config.window
        model.to(device).train()
        self.opt = torch.optim.AdamW(model.parameters(), lr=settings.lr,
                                     weight_decay=settings.weight_decay)
        self.val = fixed_samples(seasons, val_windows or train_windows[:8], self.size,
                                 settings.validation_clouds, seed=settings.seed + 1,
                                 whole_dates=settings.validation_whole_dates)
        self.result = TrainResult(model=model)
        self.best_state = self._state()
        self.loss_sum, self.loss_n = 0.0, 0

    def _state(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def resume_or_start(self) -> tuple[int, float]:
        """Resume the checkpoint when there is one of this training, else score the starting
        model; the step and the seconds to go on from."""
        checkpoint, result = self.checkpoint, self.result
        found = _checkpoint_origin(checkpoint) if os.path.exists(checkpoint) else None
        if self.origin is not None and found and found != self.origin:
            # A checkpoint of another training (from scratch vs fine-tuned, or from other
            # weights): resuming it would train the wrong model and record the wrong origin.
            self.feedback.warn(f"The checkpoint '{checkpoint}' belongs to another training "
                               f"(started from {found}, this one from {self.origin}); starting "
                               "afresh.")
            os.remove(checkpoint)
        if not os.path.exists(checkpoint):
            # The starting model is a candidate too: with the temporal prior it is
            # interpolation, so the model written is never worse than that on the validation
            # windows.
            result.best_val = masked_mse(self.model, self.val, self.device)
            self.feedback.info(f"step 0: validation masked MSE {result.best_val:.5f}")
            return 0, 0.0
        try:
            ck = torch.load(checkpoint, map_location=self.device, weights_only=True)
            self.model.load_state_dict(ck["model"])
            self.opt.load_state_dict(ck["optimizer"])
            self.best_state = ck["best_state"]
            start_step, elapsed0 = int(ck["step"]), float(ck["seconds"])
            result.history = [dict(zip(ck["history_keys"], row)) for row in ck["history"].tolist()]
            result.best_val, result.best_step = float(ck["best_val"]), int(ck["best_step"])
        except Exception as e:  # a damaged or foreign file: name it, say what to do
            raise CloudFillError(
                f"The training checkpoint '{checkpoint}' cannot be resumed ({type(e).__name__}: "
                f"{first_sentence(str(e), 150)}) Delete it to start this training afresh, or "
                "choose another output file.") from None
        self.feedback.info(f"Resumed from {checkpoint} at step {start_step}.")
        return start_step, elapsed0

    def step(self, step: int, time_share: float = 0.0) -> None:
        """One optimiser step on a batch drawn for ``step`` (the same batch on a resume);
        ``time_share``: the elapsed share of the time limit (see ``lr_by_time``)."""
        settings, model = self.settings, self.model
        rng = np.random.default_rng([settings.seed, step])
        batch = [random_sample(self.seasons, self.train_windows, self.size, rng,
                               settings.cloud_counts, settings.scenarios)
                 for _ in range(settings.batch_size)]
        msi, missing, sar, weight, days = to_batch(batch, self.device)
        for g in self.opt.param_groups:
            g["lr"] = _lr_at(step, settings, time_share)
        loss = multiscale_loss(model(msi, missing, sar, days), msi, weight,
                               band_std=model.msi_std.flatten() if settings.standardised_mse
                               else None)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.opt.step()
        self.loss_sum, self.loss_n = self.loss_sum + loss.item(), self.loss_n + 1

    def _keep_if_best(self, v: float, step: int) -> None:
        if v < self.result.best_val:
            self.result.best_val, self.result.best_step = v, step
            self.best_state = self._state()

    def validate(self, step: int) -> None:
        """Score the validation samples, keep the best weights, log, write a checkpoint."""
        result = self.result
        v = masked_mse(self.model, self.val, self.device)
        row = {"step": step, "loss": self.loss_sum / self.loss_n, "val_mse": v,
               "seconds": result.seconds}
        result.history.append(row)
        self.loss_sum, self.loss_n = 0.0, 0
        self._keep_if_best(v, step)
        self.feedback.info(f"step {step}: loss {row['loss']:.4f}, validation masked MSE "
                           f"{v:.5f} (best {result.best_val:.5f} at {result.best_step}), "
                           f"{result.seconds:.0f} s")
        _save_checkpoint(self.checkpoint, self.model, self.opt, step, result, self.best_state,
                         self.origin)

    def validate_last(self, step: int) -> None:
        """Score the last step too when the last validation was not at it."""
        history = self.result.history
        if not history or history[-1]["step"] != step:
            self._keep_if_best(masked_mse(self.model, self.val, self.device), step)

    def save_best(self, stopped_by: str) -> None:
        """Write the best weights to the output, with how the training went."""
        result = self.result
        self.model.load_state_dict(self.best_state)
        meta = dict(self.extra_metadata or {})
        meta["training"] = {**meta.get("training", {}), **asdict(self.settings),
                            "steps": result.steps, "seconds": round(result.seconds, 1),
                            "best_step": result.best_step, "stopped_by": stopped_by,
                            "val_masked_mse": result.best_val,
                            "train_windows": len(self.train_windows),
                            "val_windows": len(self.val_windows)}
        save_weights(self.output, self.model, meta)


def _checkpoint_origin(path: str) -> str | None:
    """What a checkpoint's training started from ('scratch' or a weights file name); '' when
    it does not say (older checkpoints), None when it cannot be read (the resume names it)."""
    try:
        value = torch.load(path, map_location="cpu", weights_only=True).get("origin")
    except Exception:
        return None
    return "" if value is None else bytes(value.tolist()).decode()


def _save_checkpoint(path: str, model: SmtsVit, opt: torch.optim.Optimizer, step: int,
                     result: TrainResult, best_state: dict, origin: str | None = None) -> None:
    keys = ["step", "loss", "val_mse", "seconds"]
    payload = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
               "seconds": result.seconds, "best_state": best_state, "best_val": result.best_val,
               "best_step": result.best_step, "history_keys": keys,
               "history": torch.tensor([[r[k] for k in keys] for r in result.history],
                                       dtype=torch.float64)}
    if origin is not None:  # a tensor of bytes: weights-only loading takes no str
        payload["origin"] = torch.tensor(list(origin.encode()), dtype=torch.uint8)
    write_bytes(path, torch_bytes(payload), f"Training stopped at step {step} (an earlier "
                "checkpoint, if any, is kept)")
