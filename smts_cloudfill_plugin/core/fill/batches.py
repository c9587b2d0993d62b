"""The model's inputs cut from a block, its call, and a date's output composed from its fill."""
from __future__ import annotations

import numpy as np
import torch

from ..choose.candidates import FillPlan, blended_fill
from ..plan.windows import Window
from ..read.stack import Stack, StackWindow


def model_batch(block: StackWindow, x0: int, windows: list[Window], size: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Model inputs for windows cut from a block read at column ``x0``: padded to ``size``
    (reflectance 0, missing True, SAR NaN), copied once."""
    n, (t, c) = len(windows), block.msi.shape[:2]
    msi = np.empty((n, t, c, size, size), np.float32)
    missing = np.empty((n, t, size, size), bool)
    sar = None if block.sar is None else np.empty((n, *block.sar.shape[:2], size, size), np.float32)
    for i, w in enumerate(windows):
        xs = slice(w.x0 - x0, w.x0 - x0 + w.w)
        if (w.h, w.w) != (size, size):
            msi[i], missing[i] = 0.0, True
            if sar is not None:
                sar[i] = np.nan
        msi[i, ..., :w.h, :w.w] = block.msi[..., :w.h, xs]
        missing[i, :, :w.h, :w.w] = block.missing[:, :w.h, xs]
        if sar is not None:
            sar[i, ..., :w.h, :w.w] = block.sar[..., :w.h, xs]
    return msi, missing, sar


def predict(model, device: torch.device, batch: tuple[np.ndarray, np.ndarray, np.ndarray | None],
            days: torch.Tensor | None = None, plan: FillPlan | None = None) -> np.ndarray:
    """Fill one batch of padded windows (as the self-check's plan says, or by the model alone).

    A CUDA out-of-memory error is left to the caller: this runs on worker threads, and only the
    main thread may move the model (:meth:`.fill_pass.FillPass.fall_back_to_cpu`)."""
    msi, missing, sar = (None if a is None else torch.from_numpy(a) for a in batch)
    with torch.inference_mode():
        out = blended_fill(model, msi.to(device), missing.to(device),
                           None if sar is None else sar.to(device),
                           None if days is None else days.to(device),
                           plan)
    return out.float().cpu().numpy()


def windows_to_run(missing: np.ndarray, x0: int, windows: list[Window]) -> list[bool]:
    """Which windows of a block read at column ``x0`` have a missing pixel on a date written
    (``missing``: those dates' (T, h, w) masks over the block).

    Skipping the others leaves every written pixel's bits as they were: a pixel that is clear
    on its date is copied from the input whatever the blend, and a pixel that is missing lies
    inside every window that covers it, so all of those run and it is blended from the same
    predictions in the same order. The windows that run are batched without the skipped ones,
    which leaves their predictions as they were as long as the model gives each window the same
    values whatever else is in its batch (the strips of columns rely on this already; tested on
    the CPU).
    """
    return [bool(missing[:, :w.h, w.x0 - x0:w.x0 - x0 + w.w].any()) for w in windows]


def run_block(stack: Stack, model, device: torch.device, group, plan: FillPlan | None,
              size: int, batch_size: int, skip_clear: bool, block,
              stopped=lambda: False) -> tuple | None:
    """Read a block of windows and run, in batches, the windows that have something to fill
    (all of them unless ``skip_clear``); the others get None. Return the written dates' stored
    values and masks over the block, and the predictions (None when ``stopped()`` says so
    between batches). A worker thread here, or a task on a Dask worker (:mod:`.cluster`).

    The dates written are read first, alone: a block with no missing pixel on them (most of a
    raster that is a little cloudy) needs neither the other dates nor SAR, and costs little
    more than copying its input; the model's inputs (every date of the group, and SAR) are read
    only across the windows that run. A CUDA out-of-memory error is left to the caller."""
    w0, w1 = block.windows[0], block.windows[-1]
    own = stack.read(w0.x0, w0.y0, w1.x0 + w1.w - w0.x0, w0.h, None, group.written,
                     reflectance=False)
    to_run = windows_to_run(own.missing, w0.x0, block.windows) if skip_clear \
        else [True] * len(block.windows)
    run = [w for w, r in zip(block.windows, to_run) if r]
    if not run:
        return own.raw, own.missing, [None] * len(block.windows)
    x0 = run[0].x0
    data = stack.read(x0, w0.y0, max(w.x0 + w.w for w in run) - x0, w0.h, group.sar,
                      group.dates)
    found: dict[Window, np.ndarray] = {}
    for start in range(0, len(run), batch_size):
        if stopped():
            return None
        batch = run[start:start + batch_size]
        pred = predict(model, device, model_batch(data, x0, batch, size), group.days, plan)
        found.update(zip(batch, pred[:, group.keep].reshape(len(batch), -1, size, size)))
    return own.raw, own.missing, [found.get(w) for w in block.windows]


def compose_date(stack: Stack, t: int, raw: np.ndarray, missing: np.ndarray,
                 prediction: np.ndarray | None) -> np.ndarray:
    """Date ``t``'s output over a piece: its stored values ``raw`` (B, h, w) where clear, the
    blended ``prediction`` (C, h, w reflectance) where ``missing``, as that date stores its
    values (its own type, scale and band order)."""
    out = raw.astype(stack.msi[t].numpy_dtype)  # a copy; exact, see StackWindow
    if prediction is None or not missing.any():
        return out
    filled = stack.from_reflectance(prediction, t)
    for c, b in enumerate(stack.band_indices[t]):
        out[b][missing] = filled[c][missing]
    return out
