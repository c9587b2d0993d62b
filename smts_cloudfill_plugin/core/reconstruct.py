"""Reconstruct: fill the cloudy pixels of every cloudy date of a stack with SMTS-ViT.

read (:mod:`.read`) -> plan windows (:mod:`.plan`) -> model (:mod:`.model`) -> choose
(:mod:`.choose`) -> feather (:mod:`.feather`) -> write (:mod:`.write`). Each cloudy date gets ``<name>_filled.tif`` (clear
pixels copied bit for bit, cloudy ones filled) and ``<name>_filled_mask.tif`` (1 where filled).

Streaming: the raster is processed in strips of output columns (:mod:`.plan.strips`), each top
to bottom one window-row at a time, in blocks of windows (with their overlap halo) that worker
threads (:mod:`.workers`) read and run while this thread blends and writes the blocks before;
finished rows go to the outputs one tile-row at a time. Memory depends on the strip and block
sizes, not on the raster's size, and GDAL's block cache is held near what one strip needs.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass

import numpy as np
import torch
from osgeo import gdal

from .errors import CloudFillError
from .progress import Feedback
from .block_cache import gdal_cache_limit, working_set
from .read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING
from .read.dates import day_numbers
from .fill_checks import (check_date_order, check_levels, check_spacing, check_stack_fits_model,
                          describe_masks, warn_bands_by_position, warn_empty_sar,
                          warn_whole_dates)
from .read.haze import DEFAULT_HAZE_CHECK, DEFAULT_HAZE_K, HAZE_BANDS, can_check, write_haze_masks
from .read.missing import scan_missing, warn_never_clear
from .read.stack import Stack, StackWindow
from .plan.date_groups import cover_dates, sar_for_group
from .plan.strips import Block, column_strips, plan_blocks
from .plan.windows import (WINDOWS_PER_CALL, Window, check_windows, default_overlap,
                           plan_windows)
from .model.config import SAR_FINDING
from .model.device import choose_device
from .model.weights import bundled_weights_path, describe, load_model
from .choose import confidence
from .feather import RowBlender
from .choose.candidates import FULL, FillPlan, blended_fill
from .choose.check_report import plain_summary, write_report
from .choose.candidate_errors import DRAWS
from .choose.date_check import DateCheck, describe_check
from .choose.self_check import CHECK_WINDOWS, check_group
from .write.disk import check_disk_space
from .write.names import filled_paths
from .write.thumbnails import thumbnails
from .write.writer import (MASK_FILLED, OutputSet, RasterWriter, TextOutput, check_writable,
                           folder_lock)
from .workers import MemoryTrimmer, OrderedWorkers, PerThread, available_cores


@dataclass
class FilledDate:
    """One written result, and the pass that filled it.

    Attributes:
        date_index: the date's index in the stack.
        source, path, mask_path: the input, the filled raster and its filled-pixel mask.
        cloud_fraction: the share of the date's pixels that were missing.
        group: the stack's indices of the dates the model saw together with this one (one pass
            over the raster fills every date of a group that needs it).
        windows_run: windows the model ran in that pass (those with a missing pixel).
        date: the date's acquisition day (None when unknown).
        rmse_path: the filled pixels' expected error (:mod:`.choose.confidence`), or None
            (without the self-check, or a date it could not check).
    """

    date_index: int
    source: str
    path: str
    mask_path: str
    cloud_fraction: float
    group: tuple[int, ...]
    windows_run: int
    date: dt.date | None = None
    rmse_path: str | None = None


def output_paths(msi_path: str, folder: str) -> tuple[str, str]:
    """``<folder>/<input name>_filled.tif`` and ``..._filled_mask.tif``."""
    return filled_paths(msi_path, folder)[:2]


def _predict(model, device: torch.device, batch: tuple[np.ndarray, np.ndarray, np.ndarray | None],
             days: torch.Tensor | None = None, plan: FillPlan | None = None) -> np.ndarray:
    """Fill one batch of padded windows (as the self-check's plan says, or by the model alone).

    A CUDA out-of-memory error is left to the caller: this runs on worker threads, and only the
    main thread may move the model (:func:`_fall_back_to_cpu`)."""
    msi, missing, sar = (None if a is None else torch.from_numpy(a) for a in batch)
    with torch.inference_mode():
        out = blended_fill(model, msi.to(device), missing.to(device),
                           None if sar is None else sar.to(device),
                           None if days is None else days.to(device),
                           plan)
    return out.float().cpu().numpy()


def _fall_back_to_cpu(model, feedback: Feedback) -> torch.device:
    """CUDA ran out of memory: warn and move the model to the CPU.

    Called on the main thread while no worker runs the model (the pool drained, or before the
    fill), and outside the exception handler (its traceback holds the CUDA tensors), so the
    model moves once, no batch sees it half-moved, and the freed memory goes back to the GPU.
    On the CPU this error cannot come again: the warning is given once a run."""
    feedback.warn("CUDA ran out of memory; continuing on the CPU (slower).")
    model.to("cpu")
    torch.cuda.empty_cache()
    return torch.device("cpu")


def _batch(block: StackWindow, x0: int, windows: list[Window], size: int
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


def reconstruct(msi: list[str], output_folder: str, masks: list[str | None] | None = None,
                sar: list[str] | None = None, weights: str | None = None, device: str = "auto",
                batch_size: int = WINDOWS_PER_CALL, overlap: int | None = None,
                scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                msi_dates: list | None = None, sar_dates: list | None = None,
                self_check: bool = True, report: str | None = None,
                feedback: Feedback | None = None,
                cloud_buffer: int = DEFAULT_CLOUD_BUFFER,
                haze_check: bool = DEFAULT_HAZE_CHECK,
                haze_k: float = DEFAULT_HAZE_K) -> list[FilledDate]:
    """Fill every cloudy date of the stack; return what was written.

    Args:
        msi: one multiband raster per date, in date order.
        output_folder: where ``<name>_filled.tif`` and ``<name>_filled_mask.tif`` go.
        masks: optional cloud mask per MSI date (SCL or 0/1; None entries allowed).
        sar: optional SAR rasters (VV, VH) in date order.
        weights: a weights file; None takes the bundled SMTS-ViT, or MTS-ViT without SAR.
        device: 'auto', 'cpu' or 'cuda'.
        batch_size: windows per model call.
        overlap: pixels shared by neighbouring windows (default :func:`default_overlap`).
        scl_classes: SCL classes counted as cloudy.
        cloud_buffer: pixels by which SCL clouds and shadows are grown (SCL misses hazy rims,
            which the fill would otherwise spread into the cloud); 0/1 masks are not grown.
        msi_dates, sar_dates: optional dates (datetime.date or None each) replacing those parsed
            from the file names or metadata.
        self_check: before filling, score the candidate fills (the model, the same-date
            residual correction, temporal interpolation, and blends) on held-back clear pixels
            of each cloudy date and fill each date with the one that did best, never worse than
            interpolation (:mod:`.choose.self_check`); False uses the model alone.
        report: where the self-check's HTML report goes (default
            ``<output_folder>/cloudfill_check.html``).
        feedback: progress, messages and cancel.
        haze_check: add to each date's missing pixels the clear ones that are far brighter (in
            blue - 0.5 red) than both their nearest clear observations before and after, by
            more than ``haze_k`` times the measured noise (:mod:`.read.haze`): haze the mask
            calls clear. The log says how many pixels it added per date.
    """
    feedback = feedback or Feedback()
    if batch_size < 1:
        raise CloudFillError(f"The batch size is {batch_size}: a model call takes 1 window or "
                             "more (8 by default; lower it only when the GPU runs out of memory).")
    weights = weights or bundled_weights_path(uses_sar=bool(sar))
    model, info = load_model(weights, "cpu")  # read the weights file once
    config = info.config

    haze_paths: list[str] | None = None

    def open_stack() -> Stack:
        return Stack(list(msi), masks, list(sar or []), bands=config.msi_bands,
                     scl_classes=scl_classes, msi_dates=msi_dates, sar_dates_given=sar_dates,
                     cloud_buffer=cloud_buffer, haze_masks=haze_paths)

    haze_folder = f"/vsimem/smts_haze_{os.getpid()}_{id(feedback):x}"
    with folder_lock(output_folder), _vsimem_folder(haze_folder), open_stack() as stack:
        check_date_order(stack)
        check_stack_fits_model(stack, config, weights)
        describe_masks(stack, feedback)
        warn_bands_by_position(stack, feedback)
        if sar and not config.uses_sar:
            feedback.warn(f"The model {describe(config)} does not use SAR; the SAR rasters are "
                          "ignored.")
        check_writable(output_folder)
        ref = stack.reference
        # One date at least will be written: refuse at once when even that cannot fit.
        check_disk_space(output_folder, stack.width, stack.height, ref.band_count,
                         ref.numpy_dtype.itemsize, 1)
        if haze_check:
            haze_paths = _check_haze(stack, haze_k, haze_folder, feedback)
        feedback.progress(0.0, "Scanning the dates for clouds and no data")
        with gdal_cache_limit(16 << 20):   # every block is read once: no need to keep it
            scan = scan_missing(stack, feedback)
        feedback.progress(SCAN_SHARE)
        check_levels(stack, scan.levels)
        fractions = scan.fractions
        trim = MemoryTrimmer()
        trim(force=True)
        feedback.check()
        for info_t, f in zip(stack.msi, fractions):
            feedback.info(f"  {info_t.name}: {100 * f:.1f} % cloudy or no data")
        if all(f >= 1.0 for f in fractions):
            raise CloudFillError("Every pixel of every MSI date is cloudy or has no data: there "
                                 "is nothing to reconstruct from.")
        warn_whole_dates(stack, fractions, feedback)
        warn_never_clear(scan, feedback)
        targets = [t for t, f in enumerate(fractions) if f > 0]
        if not targets:
            feedback.info("No date has clouds or missing pixels: nothing to fill.")
            return []
        check_disk_space(output_folder, stack.width, stack.height, ref.band_count,
                         ref.numpy_dtype.itemsize, len(targets))
        dev = choose_device(device, feedback)
        model.to(dev)
        feedback.info(f"Model: {describe(config)} from '{weights}'.")
        if config.uses_sar:
            feedback.info(f"Sentinel-1: measured on held-out seasons, {SAR_FINDING}")

        groups = cover_dates(targets, len(stack.msi), config.msi_dates)
        feedback.info(f"{len(targets)} cloudy date{'s' if len(targets) != 1 else ''} filled in "
                      f"{len(groups)} pass{'es' if len(groups) != 1 else ''} over the raster "
                      f"(groups of {min(config.msi_dates, len(stack.msi))} dates).")
        size = config.window
        overlap = default_overlap(size, config.patch) if overlap is None else overlap
        rows = plan_windows(stack.width, stack.height, size, overlap)
        results: list[FilledDate] = []
        checks: list[DateCheck] = []
        writers: dict[int, tuple[RasterWriter, RasterWriter]] = {}   # every date's, run-long
        if self_check:
            feedback.info("Self-check: model, same-date residual and temporal interpolation on "
                          "held-back clear pixels of each cloudy date:")
        with OutputSet() as outputs, _compression_threads():
            for g, (group, group_targets) in enumerate(groups):
                sar_idx = sar_for_group(stack.dates, stack.sar_dates, group, config)
                for t in group_targets:
                    path, mask_path = output_paths(stack.msi[t].path, output_folder)
                    meta = {"SMTS_MODEL": config.variant, "SMTS_WEIGHTS": os.path.basename(weights),
                            "SMTS_SOURCE": stack.msi[t].name}
                    image = outputs.add(RasterWriter(path, stack.msi[t], metadata=meta))
                    mask = outputs.add(RasterWriter(mask_path, stack.msi[t], band_count=1,
                                                    dtype=np.uint8, descriptions=["filled"],
                                                    nodata=None, metadata=meta))
                    writers[t] = (image, mask)
                keep = [group.index(t) for t in group_targets]
                check_spacing(stack, group, sar_idx, feedback)
                known = day_numbers([stack.dates[t] for t in group])
                days = None if known is None else torch.tensor(known, dtype=torch.float32)
                plan = None
                start, share = SCAN_SHARE + (1 - SCAN_SHARE) * g / len(groups), \
                    (1 - SCAN_SHARE) / len(groups)
                if self_check:
                    # The check's share of the group's progress: its window runs against the
                    # fill's (at most one run per window).
                    runs = check_runs(rows, len(keep))
                    part = share * runs / (runs + sum(map(len, rows)))
                    found, dev = _self_check(stack, model, dev, rows, group, sar_idx, keep, days,
                                             size, batch_size, feedback, (start, part))
                    start, share = start + part, share - part
                    checks += found
                    # Dates that are not written need nothing (weight 0: no model for them).
                    chosen = {k: c for k, c in zip(keep, found)}
                    plan = FillPlan(
                        tuple(chosen[k].weight if k in chosen else 0.0 for k in range(len(group))),
                        tuple(chosen[k].scale if k in chosen else 0.0 for k in range(len(group))),
                        tuple(chosen[k].kind if k in chosen else FULL for k in range(len(group))))
                dev, ran = _fill_group(stack, open_stack, model, dev, rows, group, sar_idx, keep,
                                       [writers[t] for t in group_targets], size, overlap,
                                       batch_size, len(config.msi_bands), feedback,
                                       (start, share), trim, days, plan)
                confident = {}
                for k, t in zip(keep, group_targets):
                    table = chosen[k].error_by_distance if self_check else None
                    if table is not None:
                        confident[t] = _write_confidence(outputs, stack.msi[t], writers[t][1],
                                                         table, chosen[k].index_ratios or {},
                                                         output_folder, feedback)
                results += [FilledDate(t, stack.msi[t].path, writers[t][0].path,
                                       writers[t][1].path, fractions[t], tuple(group), ran,
                                       stack.msi[t].date, confident.get(t))
                            for t in group_targets]
                feedback.check()
            # checks and results are both in the groups' order of their dates.
            summary = [plain_summary(c, r.cloud_fraction) for c, r in zip(checks, results)]
            if checks:   # put in place with the rasters, all or nothing
                report = report or os.path.join(output_folder, CHECK_REPORT)
                pictures = [_pictures(stack, r.date_index, writers[r.date_index])
                            for r in results]
                write_report(outputs.add(TextOutput(report)).tmp_path,
                             f"{config.variant} ({os.path.basename(weights)})", checks, summary,
                             pictures)
        for r in results:
            feedback.info(f"Wrote {r.path}")
        if checks:
            feedback.info(f"Self-check report: {report}")
        if summary:   # last, where the log is read
            feedback.info("In short:")
            for line in summary:
                feedback.info(f"  {line}")
        return results


def _pictures(stack: Stack, t: int, writers: tuple[RasterWriter, RasterWriter]
              ) -> tuple[str, str, str] | None:
    """Before / after / filled-pixel thumbnails of date ``t`` for the report (None when its
    bands hold no true colour, or GDAL cannot make them: a picture never stops a run)."""
    names = list(stack.bands or ())
    if not all(b in names for b in ("B04", "B03", "B02")):
        return None
    rgb = [stack.band_indices[t][names.index(b)] for b in ("B04", "B03", "B02")]
    image, mask = writers
    try:
        image.flush()
        mask.flush()
        return thumbnails(stack.msi[t].dataset, image.ds, mask.ds, rgb)
    except (RuntimeError, ValueError):
        return None


def _write_confidence(outputs: OutputSet, like, mask: RasterWriter, table: tuple[float, ...],
                      ratios: dict[str, float], folder: str, feedback: Feedback) -> str:
    """``<name>_filled_rmse.tif`` beside a date's mask: each filled pixel's expected RMS error
    (reflectance) by its distance to the date's nearest clear pixel, as the self-check measured
    it on this scene (:mod:`.choose.confidence`), and in its metadata what that error becomes in
    each spectral index; committed with the other outputs."""
    path = filled_paths(like.path, folder).rmse
    writer = outputs.add(RasterWriter(path, like, band_count=1, dtype=np.float32,
                                      descriptions=["expected RMS error (reflectance)"],
                                      nodata=confidence.NODATA,
                                      metadata={"SMTS_SOURCE": like.name,
                                                **confidence.metadata(table, ratios)}))
    mask.flush()
    confidence.write_confidence(mask.ds, writer.ds, table, writer.tmp_path + ".distance.tif",
                                check=feedback.check)
    writer.flush()
    return path


def _check_haze(stack: Stack, k: float, folder: str, feedback: Feedback) -> list[str] | None:
    """Run the haze check over the stack (:func:`.read.haze.write_haze_masks`), make ``stack``
    count its flags as missing, log the pixels added per date; return the masks' paths (for
    the stacks the workers open), or None when the stack lacks the bands it reads."""
    if not can_check(stack.bands):
        feedback.warn(f"Haze check skipped: it reads {' and '.join(HAZE_BANDS)}, which the "
                      "model's bands do not include.")
        return None
    if len(stack.msi) < 3:
        feedback.info("Haze check: fewer than 3 dates, nothing to compare with.")
        return None
    feedback.progress(0.0, "Checking the clear pixels for haze")
    paths, counts = write_haze_masks(stack, k, folder, feedback.check)
    stack.use_haze(paths)
    pixels = stack.width * stack.height
    feedback.info(f"Haze check (k = {k:g}): clear pixels brighter than both their temporal "
                  "neighbours beyond the noise, added to the missing pixels:")
    for info, n in zip(stack.msi, counts):
        feedback.info(f"  {info.name}: {n} pixel{'s' if n != 1 else ''} "
                      f"({100 * n / pixels:.2f} %)")
    return paths


@contextlib.contextmanager
def _vsimem_folder(folder: str):
    """Remove what was written under the /vsimem/ ``folder`` on the way out."""
    try:
        yield folder
    finally:
        for name in gdal.ReadDir(folder) or []:
            gdal.Unlink(f"{folder}/{name}")


#: The share of a run's progress bar given to the scan of the dates (the rest: each group's
#: self-check and fill, in proportion to their window runs).
SCAN_SHARE = 0.02


def check_runs(rows: list[list[Window]], targets: int) -> int:
    """About how many window runs the self-check of a group with ``targets`` cloudy dates
    makes (held-back pixels only: whole dates, when there are any, add a few)."""
    return len(check_windows(rows, CHECK_WINDOWS)) * DRAWS * targets


#: The self-check's report, in the output folder.
CHECK_REPORT = "cloudfill_check.html"


def _self_check(stack: Stack, model, dev: torch.device, rows: list[list[Window]],
                group: list[int], sar_idx: list[int] | None, keep: list[int],
                days: torch.Tensor | None, size: int, batch_size: int,
                feedback: Feedback, span: tuple[float, float] = (0.0, 0.0)
                ) -> tuple[list[DateCheck], torch.device]:
    """Run :func:`.choose.self_check.check_group` on a few windows of this group; log each date;
    return the checks and the device the model is on after.

    The check runs the model on this (the main) thread while no worker does (before the group's
    fill), so when CUDA runs out of memory it falls back at once and starts the check over on
    the CPU (same windows, same seed: the same checks as a run on the CPU)."""
    windows = check_windows(rows, CHECK_WINDOWS)
    batches = []
    for start in range(0, len(windows), batch_size):
        part = windows[start:start + batch_size]
        parts = [_batch(stack.read(w.x0, w.y0, w.w, w.h, sar_idx, group), w.x0, [w], size)
                 for w in part]
        batches.append(tuple(None if parts[0][i] is None else
                             np.concatenate([p[i] for p in parts]) for i in range(3)))
    warn_empty_sar(stack, sar_idx, batches, feedback)
    names = [stack.msi[t].name for t in group]
    dates = [str(stack.dates[t] or "?") for t in group]

    first, share = span
    feedback.progress(first, "Self-check: " + ", ".join(names[k] for k in keep))

    def run(on: torch.device) -> list[DateCheck]:
        return check_group(model, on, batches, days, keep, names, dates, seed=group[0],
                           check=feedback.check, chunk=batch_size,
                           progress=lambda f: feedback.progress(first + share * f))

    out_of_memory = False
    try:
        found = run(dev)
    except torch.cuda.OutOfMemoryError:
        if dev.type != "cuda":
            raise
        out_of_memory = True
    if out_of_memory:
        dev = _fall_back_to_cpu(model, feedback)
        found = run(dev)
    for c in found:
        feedback.info(describe_check(c))
    return found, dev


#: Windows read and run as one block (rounded up to whole batches): a block's inputs take
#: about 0.4 MB per window.
BLOCK_WINDOWS = 24
#: Threads that each read a block and run the model on it, while the caller's thread blends
#: and writes the blocks before (None: chosen from the device and torch's thread count).
MODEL_WORKERS: int | None = None
#: Blocks in flight beyond the workers' own.
BLOCKS_AHEAD = 1
#: Output columns per strip: the raster is processed strip by strip (each top to bottom), so
#: memory depends on this, not on the raster's width or height. The windows that straddle a
#: strip's edge are run for both strips (about 60 / STRIP_COLUMNS more work).
STRIP_COLUMNS = 2048
#: GDAL's block cache is held at most at this, or GDAL_CACHE_SHARE x what one strip needs.
GDAL_CACHE_FLOOR = 128 << 20
GDAL_CACHE_SHARE = 2
#: A worker's result for a block on which CUDA ran out of memory (see :func:`_fill_group`).
_OUT_OF_MEMORY = object()


class _Progress:
    """Windows done of ``total``, reported as ``start + share * done / total``."""

    def __init__(self, feedback: Feedback, total: int, start: float, share: float) -> None:
        self.feedback, self.total, self.done = feedback, total, 0
        self.start, self.share = start, share

    def add(self, n: int) -> None:
        self.done += n
        self.feedback.progress(min(1.0, self.start + self.share * self.done / self.total))


@contextlib.contextmanager
def _compression_threads():
    """Compress the outputs' tiles on all cores (GDAL's own threads), unless GDAL_NUM_THREADS is
    set; a thread-local setting, so the rest of the application is not touched."""
    if gdal.GetConfigOption("GDAL_NUM_THREADS") is not None:
        yield
        return
    gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", str(available_cores()))
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption("GDAL_NUM_THREADS", None)


@contextlib.contextmanager
def _worker_threads(dev: torch.device):
    """How many workers run the model, and torch's threads for each while they run.

    On the CPU, torch's thread budget (all cores unless OMP_NUM_THREADS or
    torch.set_num_threads say otherwise) is split between up to 4 workers: the model's small
    matrices (144 tokens of width 128 a window) use one core each far better than several,
    and a worker reading its next block leaves its core to another's model. With CUDA, the
    GPU runs one worker's batch while the others read.
    """
    budget = torch.get_num_threads()
    if MODEL_WORKERS is not None:
        workers = MODEL_WORKERS
    elif dev.type == "cuda":
        workers = max(2, min(4, available_cores()))
    else:
        workers = max(1, min(4, budget))
    if dev.type == "cuda" or workers == 1:
        yield workers
        return
    torch.set_num_threads(max(1, budget // workers))
    try:
        yield workers
    finally:
        torch.set_num_threads(budget)


def _windows_to_run(missing: np.ndarray, x0: int, windows: list[Window]) -> list[bool]:
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


def _fill_group(stack: Stack, open_stack, model, dev: torch.device, rows: list[list[Window]],
                group: list[int], sar_idx: list[int] | None, keep: list[int],
                writers: list[tuple[RasterWriter, RasterWriter]], size: int, overlap: int,
                batch_size: int, bands: int, feedback: Feedback,
                part: tuple[float, float], trim: MemoryTrimmer,
                days: torch.Tensor | None = None,
                plan: FillPlan | None = None) -> tuple[torch.device, int]:
    """Fill one group of dates over the whole raster (running only the windows that have a
    missing pixel on a target date, :func:`_windows_to_run`) and write its targets.

    Strip by strip of output columns (aligned on the output's tiles), each window-row by
    window-row, in blocks of whole batches that worker threads read and run ahead while this
    thread blends and writes. Every window that touches a strip is run for it, so each pixel is
    blended from the same windows in the same order as in one pass over whole rows: the result
    depends neither on the strips nor on the blocks.

    When CUDA runs out of memory on a block, the worker only says so; this thread, on the first
    such block, drains the pool (the blocks after it are dropped), moves the model to the CPU
    once and goes on from that block with a new pool: blocks already written stay as they are
    (``results`` below). Return the device the model is on after, and the windows run.
    """
    width, height = stack.width, stack.height
    strips = column_strips(width, writers[0][0].block_size[0], STRIP_COLUMNS)
    blocks, spans = plan_blocks(rows, height, strips, batch_size, BLOCK_WINDOWS)
    progress = _Progress(feedback, sum(len(b.windows) for b in blocks), *part)
    need = working_set(stack.datasets(group, sar_idx), max(s1 - s0 for s0, s1 in spans), size)
    stacks = PerThread(open_stack)

    written = [group[k] for k in keep]

    def work(block: Block):
        """Read a block (each worker with its own opened stack) and run, in batches, the
        windows that have something to fill; the others get None. Return the written dates'
        stored values and masks over the block, and the predictions.

        The dates written are read first, alone: a block with no missing pixel on them (most
        of a raster that is a little cloudy) needs neither the other dates nor SAR, and costs
        little more than copying its input; the model's inputs (every date of the group, and
        SAR) are read only across the windows that run. When CUDA runs out of memory, return
        :data:`_OUT_OF_MEMORY` and leave the model to the main thread."""
        w0, w1 = block.windows[0], block.windows[-1]
        mine = stacks.get()
        own = mine.read(w0.x0, w0.y0, w1.x0 + w1.w - w0.x0, w0.h, None, written,
                        reflectance=False)
        to_run = _windows_to_run(own.missing, w0.x0, block.windows)
        run = [w for w, r in zip(block.windows, to_run) if r]
        if not run:
            return own.raw, own.missing, [None] * len(block.windows)
        x0 = run[0].x0
        data = mine.read(x0, w0.y0, max(w.x0 + w.w for w in run) - x0, w0.h, sar_idx, group)
        found: dict[Window, np.ndarray] = {}
        try:
            for start in range(0, len(run), batch_size):
                if pool.stop.is_set():
                    return None
                batch = run[start:start + batch_size]
                pred = _predict(model, dev, _batch(data, x0, batch, size), days, plan)
                found.update(zip(batch, pred[:, keep].reshape(len(batch), -1, size, size)))
        except torch.cuda.OutOfMemoryError:
            if dev.type != "cuda":
                raise
            return _OUT_OF_MEMORY
        return own.raw, own.missing, [found.get(w) for w in block.windows]

    pool: OrderedWorkers | None = None

    def results():
        """(block, what :func:`work` returned) in order, from a pool of workers on ``dev``; on the
        first block on which CUDA ran out of memory, drain the pool (the blocks after it are
        dropped), fall back to the CPU once and go on from that block with a new pool."""
        nonlocal pool, dev
        done = 0
        while done < len(blocks):
            with _worker_threads(dev) as workers, \
                    OrderedWorkers(work, blocks[done:], workers, workers + BLOCKS_AHEAD) as pool:
                for block, result in pool.results(feedback.check):
                    if result is _OUT_OF_MEMORY:
                        break   # leaving the pool drains it: no worker runs the model after
                    yield block, result
                    done += 1
            if done < len(blocks):   # out of memory on blocks[done]
                dev = _fall_back_to_cpu(model, feedback)

    strip, ran = -1, 0
    try:
        with gdal_cache_limit(max(GDAL_CACHE_FLOOR, int(GDAL_CACHE_SHARE * need))), \
                contextlib.closing(results()) as ordered:   # closed: the pool drained
            for block, (raw, missing, preds) in ordered:
                if block.strip != strip:
                    strip = block.strip
                    x0, x1 = strips[strip]
                    s0, s1 = spans[strip]
                    blender = RowBlender(len(keep) * bands, s1 - s0, size, overlap)
                    out = [(image.strip(x0, x1, size), mask.strip(x0, x1, size))
                           for image, mask in writers]
                for w, p in zip(block.windows, preds):
                    if p is not None:   # skipped: clear on every date written, see above
                        blender.add(w.x0 - s0, w.y0, w.w, w.h, p)
                        ran += 1
                progress.add(len(block.windows))   # skipped windows are done too
                bx, y0 = block.windows[0].x0, block.windows[0].y0
                n = block.next_top - y0
                if block.x_to > block.x_from:
                    xs = slice(block.x_from - bx, block.x_to - bx)
                    blended = None
                    for k, (image, mask) in enumerate(out):
                        value, filled = raw[k, :, :n, xs], missing[k, :n, xs]
                        if filled.any():   # else: the input as it is, no blend needed
                            if blended is None:
                                blended = blender.finish(block.x_from - s0, block.x_to - s0, n)
                                blended = blended.reshape(len(keep), bands, n, -1)
                        image.put(block.x_from, y0,
                                  compose_date(stack, written[k], value, filled,
                                               None if blended is None else blended[k]))
                        mask.put(block.x_from, y0, (filled * MASK_FILLED).astype(np.uint8))
                if block.row_end:
                    blender.next_row(block.next_top)
                    for image, mask in out:
                        image.rows_done(block.next_top)
                        mask.rows_done(block.next_top)
                    trim()
    finally:
        stacks.close()
    feedback.info(f"  {ran} of {progress.total} windows run ({progress.total - ran} skipped: no "
                  "missing pixel on the dates filled).")
    return dev, ran


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
