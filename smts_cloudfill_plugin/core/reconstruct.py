"""Reconstruct: fill the cloudy pixels of every cloudy date of a stack with SMTS-ViT.

stack reader -> tiler -> model -> blender -> writer. The raster is processed in strips of one
window-row, so memory does not grow with its height; each cloudy date gets
``<name>_filled.tif`` (clear pixels copied bit for bit, cloudy ones from the model) and
``<name>_filled_mask.tif`` (1 where the model filled).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from .clouds import DEFAULT_SCL_MISSING
from .config import ModelConfig
from .dates import centred_group, day_numbers, pick_sar_dates
from .device import choose_device
from .errors import CloudFillError
from .progress import Feedback
from .stack_reader import Stack, StackWindow
from .tiler import StripBlender, Window, iter_rows, pad_to, plan_windows
from .weights import bundled_weights_path, describe, load_model, read_weights_info
from .writer import MASK_FILLED, OutputSet, RasterWriter, check_writable


@dataclass
class FilledDate:
    """One written result."""

    date_index: int
    source: str
    path: str
    mask_path: str
    cloud_fraction: float


def output_paths(msi_path: str, folder: str) -> tuple[str, str]:
    """``<folder>/<input name>_filled.tif`` and ``..._filled_mask.tif``."""
    stem = os.path.splitext(os.path.basename(msi_path))[0]
    return (os.path.join(folder, f"{stem}_filled.tif"),
            os.path.join(folder, f"{stem}_filled_mask.tif"))


def check_date_order(stack: Stack) -> None:
    dates = stack.dates
    for a, b, ia, ib in zip(dates, dates[1:], stack.msi, stack.msi[1:]):
        if a and b and b <= a:
            raise CloudFillError(f"MSI dates must be in increasing date order: '{ib.name}' ({b}) "
                                 f"comes after '{ia.name}' ({a}).")


def check_stack_fits_model(stack: Stack, config: ModelConfig, weights: str) -> None:
    """Enough MSI and SAR dates for the model; name both sides when not."""
    if len(stack.msi) < config.msi_dates:
        raise CloudFillError(f"The model '{os.path.basename(weights)}' ({describe(config)}) needs "
                             f"at least {config.msi_dates} MSI dates; {len(stack.msi)} were given.")
    if config.uses_sar and len(stack.sar) < config.sar_dates:
        raise CloudFillError(
            f"The model '{os.path.basename(weights)}' ({describe(config)}) needs at least "
            f"{config.sar_dates} SAR dates; {len(stack.sar)} were given. Without SAR, use the "
            f"MTS-ViT weights (the default when no SAR is given).")


def sar_for_group(stack: Stack, group: list[int], config: ModelConfig) -> list[int] | None:
    """The SAR dates that go with a group of MSI dates."""
    if not config.uses_sar:
        return None
    n = config.sar_dates
    msi_days = day_numbers([stack.dates[t] for t in group])
    all_days = day_numbers([*stack.dates, *stack.sar_dates])
    if msi_days is not None and all_days is not None:
        sar_days = all_days[len(stack.msi):]
        msi_days = [all_days[t] for t in group]
        return pick_sar_dates(msi_days, sar_days, n)
    if len(stack.sar) == n and len(stack.msi) == config.msi_dates:
        return list(range(n))
    raise CloudFillError(
        f"{len(stack.sar)} SAR rasters were given for {n} SAR slots, but the dates of some "
        f"rasters are unknown, so the SAR dates cannot be matched to the MSI dates. Put the date "
        f"(YYYYMMDD or YYYY-MM-DD) in the file names or give exactly {n} SAR rasters for "
        f"{config.msi_dates} MSI dates.")


def _predict(model, device: torch.device, batch: list[StackWindow], size: int,
             feedback: Feedback) -> tuple[np.ndarray, torch.device]:
    """Run one batch of padded windows; fall back to CPU when CUDA runs out of memory."""
    msi = torch.from_numpy(np.stack([pad_to(w.msi, size) for w in batch]))
    missing = torch.from_numpy(np.stack([pad_to(w.missing, size, True) for w in batch]))
    sar = None
    if batch[0].sar is not None:
        sar = torch.from_numpy(np.stack([pad_to(w.sar, size, np.nan) for w in batch]))
    try:
        with torch.inference_mode():
            out = model(msi.to(device), missing.to(device), None if sar is None else sar.to(device))
        return out.float().cpu().numpy(), device
    except torch.cuda.OutOfMemoryError:
        feedback.warn("CUDA ran out of memory; continuing on the CPU (slower).")
        torch.cuda.empty_cache()
        model.to("cpu")
        return _predict(model, torch.device("cpu"), batch, size, feedback)


def reconstruct(msi: list[str], output_folder: str, masks: list[str | None] | None = None,
                sar: list[str] | None = None, weights: str | None = None, device: str = "auto",
                batch_size: int = 8, overlap: int | None = None,
                scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                msi_dates: list | None = None, sar_dates: list | None = None,
                feedback: Feedback | None = None) -> list[FilledDate]:
    """Fill every cloudy date of the stack; return what was written.

    Args:
        msi: one multiband raster per date, in date order.
        output_folder: where ``<name>_filled.tif`` and ``<name>_filled_mask.tif`` go.
        masks: optional cloud mask per MSI date (SCL or 0/1; None entries allowed).
        sar: optional SAR rasters (VV, VH) in date order.
        weights: a weights file; None takes the bundled SMTS-ViT, or MTS-ViT without SAR.
        device: 'auto', 'cpu' or 'cuda'.
        batch_size: windows per model call.
        overlap: pixels shared by neighbouring windows (default a third of the window).
        scl_classes: SCL classes counted as cloudy.
        msi_dates, sar_dates: optional dates (datetime.date or None each) replacing those parsed
            from the file names or metadata.
        feedback: progress, messages and cancel.
    """
    feedback = feedback or Feedback()
    weights = weights or bundled_weights_path(uses_sar=bool(sar))
    info, _ = read_weights_info(weights)
    config = info.config
    with Stack(list(msi), masks, list(sar or []), bands=config.msi_bands,
               scl_classes=scl_classes, msi_dates=msi_dates, sar_dates_given=sar_dates) as stack:
        check_date_order(stack)
        check_stack_fits_model(stack, config, weights)
        if sar and not config.uses_sar:
            feedback.warn(f"The model {describe(config)} does not use SAR; the SAR rasters are "
                          "ignored.")
        check_writable(output_folder)
        fractions = stack.cloud_fractions()
        feedback.check()
        for info_t, f in zip(stack.msi, fractions):
            feedback.info(f"  {info_t.name}: {100 * f:.1f} % cloudy or no data")
        if all(f >= 1.0 for f in fractions):
            raise CloudFillError("Every pixel of every MSI date is cloudy or has no data: there "
                                 "is nothing to reconstruct from.")
        targets = [t for t, f in enumerate(fractions) if f > 0]
        if not targets:
            feedback.info("No date has clouds or missing pixels: nothing to fill.")
            return []
        model, _ = load_model(weights, "cpu")
        dev = choose_device(device, feedback)
        model.to(dev)
        feedback.info(f"Model: {describe(config)} from '{weights}'.")

        groups: dict[tuple[int, ...], list[int]] = {}
        for t in targets:
            groups.setdefault(tuple(centred_group(t, len(stack.msi), config.msi_dates)), []).append(t)
        size = config.window
        overlap = size // 3 if overlap is None else overlap
        rows = plan_windows(stack.width, stack.height, size, overlap)
        total = len(groups) * sum(len(r) for r in rows)
        done = 0
        results: list[FilledDate] = []
        with OutputSet() as outputs:
            for group, group_targets in groups.items():
                sar_idx = sar_for_group(stack, list(group), config)
                writers = {}
                for t in group_targets:
                    path, mask_path = output_paths(stack.msi[t].path, output_folder)
                    meta = {"SMTS_MODEL": config.variant, "SMTS_WEIGHTS": os.path.basename(weights),
                            "SMTS_SOURCE": stack.msi[t].name}
                    writers[t] = (
                        outputs.add(RasterWriter(path, stack.msi[t], metadata=meta)),
                        outputs.add(RasterWriter(mask_path, stack.msi[t], band_count=1,
                                                 dtype=np.uint8, descriptions=["filled"],
                                                 nodata=None, metadata=meta)))
                    results.append(FilledDate(t, stack.msi[t].path, path, mask_path, fractions[t]))
                keep = [group.index(t) for t in group_targets]
                blender = StripBlender(len(keep) * len(config.msi_bands), stack.width, size, overlap)
                for row, next_top in iter_rows(rows, stack.height):
                    y0 = row[0].y0
                    strip = stack.read(0, y0, stack.width, row[0].h, sar_idx, list(group))
                    for start in range(0, len(row), batch_size):
                        feedback.check()
                        chunk = row[start:start + batch_size]
                        pred, dev = _predict(model, dev, [_cut(strip, w) for w in chunk], size,
                                             feedback)
                        for w, p in zip(chunk, pred):
                            blender.add(w, p[keep].reshape(-1, size, size))
                        done += len(chunk)
                        feedback.progress(done / total)
                    top, blended = blender.finish_row(next_top)
                    n = blended.shape[1]
                    blended = blended.reshape(len(keep), len(config.msi_bands), n, stack.width)
                    for k, t in zip(keep, group_targets):
                        _write_rows(stack, writers[t], strip, k, blended[keep.index(k)], top, n)
                feedback.check()
        for r in results:
            feedback.info(f"Wrote {r.path}")
        return results


def _cut(strip: StackWindow, w: Window) -> StackWindow:
    """The part of a strip that a window covers (its rows start at the strip's top)."""
    xs = slice(w.x0, w.x0 + w.w)
    return StackWindow(msi=strip.msi[..., :w.h, xs], missing=strip.missing[..., :w.h, xs],
                       sar=None if strip.sar is None else strip.sar[..., :w.h, xs],
                       raw=strip.raw[..., :w.h, xs])


def _write_rows(stack: Stack, writers: tuple[RasterWriter, RasterWriter], strip: StackWindow,
                k: int, prediction: np.ndarray, top: int, n: int) -> None:
    """Compose the first ``n`` strip rows of date ``k``: input where clear, model where missing."""
    raw = strip.raw[k, :, :n].copy()
    missing = strip.missing[k, :n]
    filled = stack.from_reflectance(prediction)
    for c, b in enumerate(stack.band_index):
        raw[b][missing] = filled[c][missing]
    image_writer, mask_writer = writers
    image_writer.write(0, top, raw)
    mask_writer.write(0, top, (missing * MASK_FILLED).astype(np.uint8))
