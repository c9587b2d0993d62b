"""Reconstruct: fill the cloudy pixels of every cloudy date of a stack with SMTS-ViT.

read (:mod:`.read`) -> plan windows (:mod:`.plan`) -> model (:mod:`.model`) -> choose and fill
(:mod:`.choose`, :mod:`.fill`) -> write (:mod:`.write`). Each cloudy date gets
``<name>_filled.tif`` (clear pixels copied bit for bit, cloudy ones filled) and
``<name>_filled_mask.tif`` (1 where filled); with the self-check, ``<name>_filled_rmse.tif`` and
the report ``cloudfill_check.html``; and the run its log, ``cloudfill_log.txt``. All of them are
put in place together at the end of a run that succeeded, or none.

This module is the driver: it checks the inputs, scans them for clouds, plans the passes over
the raster and hands each to the fill pass (:class:`.fill.fill_pass.FillPass`, which streams
the raster in strips and blocks with bounded memory), then writes the report and the log.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from osgeo import gdal

from .errors import CloudFillError
from .fill.cluster import cluster_client
from .fill.fill_pass import FillPass
from .fill.settings import FillSettings
from .gdal_scope import gdal_exceptions
from .progress import Feedback
from .block_cache import gdal_cache_limit
from .read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING
from .fill_checks import (check_date_order, check_levels, check_stack_fits_model,
                          describe_masks, warn_bands_by_position, warn_whole_dates)
from .read.haze import DEFAULT_HAZE_CHECK, DEFAULT_HAZE_K, HAZE_BANDS, can_check, write_haze_masks
from .read.missing import scan_missing, warn_never_clear
from .read.stack import Stack
from .plan.date_groups import cover_dates, sar_for_group
from .plan.windows import WINDOWS_PER_CALL
from .model.config import SAR_FINDING, ModelConfig
from .model.device import choose_device
from .model.weights import bundled_weights_path, describe, load_model
from .choose.check_report import plain_summary, write_report
from .choose.date_check import DateCheck
from .workers import MemoryTrimmer
from .write.confidence_raster import add_confidence_raster
from .write.disk import check_disk_space
from .write.folder_lock import check_writable, folder_lock
from .write.names import (CHECK_REPORT, MODEL_KEY, RUN_LOG, SOURCE_KEY, WEIGHTS_KEY,
                          filled_paths)
from .write.output_set import OutputSet, TextOutput
from .write.raster import RasterWriter, compression_threads
from .write.run_log import RunLog
from .write.thumbnails import date_pictures

#: The share of a run's progress bar given to the scan of the dates (the rest: each group's
#: self-check and fill, in proportion to their window runs).
SCAN_SHARE = 0.02


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
        index_paths: the spectral index rasters of the filled date, by index name.
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
    index_paths: dict[str, str] = field(default_factory=dict)


def output_paths(msi_path: str, folder: str) -> tuple[str, str]:
    """``<folder>/<input name>_filled.tif`` and ``..._filled_mask.tif``."""
    return filled_paths(msi_path, folder)[:2]


def reconstruct(msi: list[str], output_folder: str, masks: list[str | None] | None = None,
                sar: list[str] | None = None, weights: str | None = None, device: str = "auto",
                batch_size: int = WINDOWS_PER_CALL,
                scl_classes: tuple[int, ...] = DEFAULT_SCL_MISSING,
                msi_dates: list | None = None, sar_dates: list | None = None,
                self_check: bool = True, feedback: Feedback | None = None,
                cloud_buffer: int = DEFAULT_CLOUD_BUFFER, haze_check: bool = DEFAULT_HAZE_CHECK,
                haze_k: float = DEFAULT_HAZE_K, fill: FillSettings = FillSettings(),
                index_rasters: tuple[str, ...] = ()) -> list[FilledDate]:
    """Fill every cloudy date of the stack; return what was written.

    Args:
        msi: one multiband raster per date, in date order.
        output_folder: where ``<name>_filled.tif`` and ``<name>_filled_mask.tif`` go.
        masks: optional cloud mask per MSI date (SCL or 0/1; None entries allowed).
        sar: optional SAR rasters (VV, VH) in date order.
        weights: a weights file; None takes the bundled SMTS-ViT, or MTS-ViT without SAR.
        device: 'auto', 'cpu' or 'cuda'.
        batch_size: windows per model call.
        scl_classes: SCL classes counted as cloudy.
        cloud_buffer: pixels by which SCL clouds and shadows are grown (SCL misses hazy rims,
            which the fill would otherwise spread into the cloud); 0/1 masks are not grown.
        msi_dates, sar_dates: optional dates (datetime.date or None each) replacing those parsed
            from the file names or metadata.
        self_check: before filling, score the candidate fills (the model, the same-date
            residual correction, temporal interpolation, and blends) on held-back clear pixels
            of each cloudy date and fill each date with the one that did best, never worse than
            interpolation (:mod:`.choose.self_check`); False uses the model alone. Its report
            goes to ``<output_folder>/cloudfill_check.html``.
        feedback: progress, messages and cancel.
        haze_check: add to each date's missing pixels the clear ones that are far brighter (in
            blue - 0.5 red) than both their nearest clear observations before and after, by
            more than ``haze_k`` times the measured noise (:mod:`.read.haze`): haze the mask
            calls clear. The log says how many pixels it added per date.
        index_rasters: indices (e.g. ``("NDVI",)``) written as ``<name>_filled_ndvi.tif``
            with the outputs (a date without the bands an index needs: a warning).
        fill: how the fill pass streams the raster (threads, blocks, strips; the windows'
            overlap): :class:`.fill.settings.FillSettings`.

    The run's messages and summary also go to ``<output_folder>/cloudfill_log.txt``, put in
    place with the rasters (all or nothing). The engine takes the folder's lock and GDAL's
    exception mode; callers do not.
    """
    log = RunLog(feedback or Feedback())
    _check_options(batch_size, haze_check, fill)
    weights = weights or bundled_weights_path(uses_sar=bool(sar))
    model, info = load_model(weights, "cpu")  # read the weights file once
    config = info.config
    open_stack = functools.partial(Stack, list(msi), masks, list(sar or []),
                                   bands=config.msi_bands, scl_classes=scl_classes,
                                   msi_dates=msi_dates, sar_dates_given=sar_dates,
                                   cloud_buffer=cloud_buffer)
    haze_folder = f"/vsimem/smts_haze_{os.getpid()}_{id(log):x}"
    # The cluster is reached first: an unreachable one is said before anything is read.
    with cluster_client(fill.scheduler) as client, gdal_exceptions(), \
            folder_lock(output_folder), _vsimem_folder(haze_folder), \
            open_stack(haze_masks=None) as stack:
        fractions, haze = _look_at_inputs(stack, config, weights, bool(sar), output_folder,
                                          log, haze_folder if haze_check else None, haze_k)
        targets = [t for t, f in enumerate(fractions) if f > 0]
        if not targets:
            log.info("No date has clouds or missing pixels: nothing to fill.")
            return []
        dev, groups = _plan_passes(stack, model, config, weights, device, targets,
                                   output_folder, log)
        passes = FillPass(stack, functools.partial(open_stack, haze_masks=haze), model, config,
                          dev, batch_size, log, fill, weights, client)
        if self_check:
            log.info("Self-check: model, same-date residual and temporal interpolation on "
                     "held-back clear pixels of each cloudy date:")
        with OutputSet() as outputs, compression_threads():
            results, checks, writers = _fill_groups(passes, groups, outputs, output_folder,
                                                    config, weights, fractions, self_check)
            _index_rasters(outputs, results, writers, index_rasters, log)
            closing = _report(passes.stack, outputs, results, checks, writers, output_folder,
                              f"{config.variant} ({os.path.basename(weights)})", log)
        for line in closing:   # the summary last, where the log is read
            log.feedback.info(line)
        return results


def _check_options(batch_size: int, haze_check: bool, fill: FillSettings) -> None:
    """Refuse options that cannot work together, before anything is read."""
    if batch_size < 1:
        raise CloudFillError(f"The batch size is {batch_size}: a model call takes 1 window or "
                             "more (8 by default; lower it only when the GPU runs out of memory).")
    if fill.scheduler and haze_check:
        raise CloudFillError("The haze check keeps its masks in this process's memory, which a "
                             "cluster's workers cannot read: fill without the haze check, or "
                             "without a scheduler.")


def _plan_passes(stack: Stack, model, config: ModelConfig, weights: str, device: str,
                 targets: list[int], folder: str, log: Feedback
                 ) -> tuple[torch.device, list[tuple[list[int], list[int]]]]:
    """Refuse a fill the disk cannot take, put the model on its device, and plan the passes
    over the raster that fill the ``targets``; return the device and the passes' groups."""
    ref = stack.reference
    check_disk_space(folder, stack.width, stack.height, ref.band_count,
                     ref.numpy_dtype.itemsize, len(targets))
    dev = choose_device(device, log)
    model.to(dev)
    log.info(f"Model: {describe(config)} from '{weights}'.")
    if config.uses_sar:
        log.info(f"Sentinel-1: measured on held-out seasons, {SAR_FINDING}")
    groups = cover_dates(targets, len(stack.msi), config.msi_dates)
    log.info(f"{len(targets)} cloudy date{'s' if len(targets) != 1 else ''} filled in "
             f"{len(groups)} pass{'es' if len(groups) != 1 else ''} over the raster "
             f"(groups of {min(config.msi_dates, len(stack.msi))} dates).")
    return dev, groups


def _look_at_inputs(stack: Stack, config: ModelConfig, weights: str, sar_given: bool,
                    folder: str, log: Feedback, haze_folder: str | None, haze_k: float
                    ) -> tuple[list[float], list[str] | None]:
    """Check the stack against the model and the output folder, run the haze check (into
    ``haze_folder``, when given) and scan the dates for clouds; return each date's missing
    share and the haze masks' paths (None without them)."""
    check_date_order(stack)
    check_stack_fits_model(stack, config, weights)
    describe_masks(stack, log)
    warn_bands_by_position(stack, log)
    if sar_given and not config.uses_sar:
        log.warn(f"The model {describe(config)} does not use SAR; the SAR rasters are "
                 "ignored.")
    check_writable(folder)
    ref = stack.reference
    # One date at least will be written: refuse at once when even that cannot fit.
    check_disk_space(folder, stack.width, stack.height, ref.band_count,
                     ref.numpy_dtype.itemsize, 1)
    haze = None if haze_folder is None else _check_haze(stack, haze_k, haze_folder, log)
    log.progress(0.0, "Scanning the dates for clouds and no data")
    with gdal_cache_limit(16 << 20):   # every block is read once: no need to keep it
        scan = scan_missing(stack, log)
    log.progress(SCAN_SHARE)
    check_levels(stack, scan.levels)
    fractions = scan.fractions
    MemoryTrimmer()(force=True)
    log.check()
    for info_t, f in zip(stack.msi, fractions):
        log.info(f"  {info_t.name}: {100 * f:.1f} % cloudy or no data")
    if all(f >= 1.0 for f in fractions):
        raise CloudFillError("Every pixel of every MSI date is cloudy or has no data: there "
                             "is nothing to reconstruct from.")
    warn_whole_dates(stack, fractions, log)
    warn_never_clear(scan, log)
    return fractions, haze


def _fill_groups(passes: FillPass, groups: list[tuple[list[int], list[int]]],
                 outputs: OutputSet, folder: str, config: ModelConfig, weights: str,
                 fractions: list[float], self_check: bool
                 ) -> tuple[list[FilledDate], list[DateCheck],
                            dict[int, tuple[RasterWriter, RasterWriter]]]:
    """Each group of dates checked and filled by ``passes`` into ``outputs``; return what was
    written, the self-check's checks (both in the groups' order of their dates) and every
    date's (image, mask) writers."""
    stack, results, checks = passes.stack, [], []
    writers: dict[int, tuple[RasterWriter, RasterWriter]] = {}   # every date's, run-long
    for g, (group, targets) in enumerate(groups):
        sar_idx = sar_for_group(stack.dates, stack.sar_dates, group, config)
        for t in targets:
            writers[t] = _date_writers(outputs, stack, t, folder, config.variant, weights)
        span = (SCAN_SHARE + (1 - SCAN_SHARE) * g / len(groups), (1 - SCAN_SHARE) / len(groups))
        found, ran = passes.run_group(group, targets, sar_idx, [writers[t] for t in targets],
                                      span, self_check)
        checks += found
        confident = {}
        for t, check in zip(targets, found):
            if check.error_by_distance is not None:
                confident[t] = add_confidence_raster(
                    outputs, stack.msi[t], writers[t][1], check.error_by_distance,
                    check.index_ratios or {}, folder, passes.feedback.check)
        results += [FilledDate(t, stack.msi[t].path, writers[t][0].path, writers[t][1].path,
                               fractions[t], tuple(group), ran, stack.msi[t].date,
                               confident.get(t))
                    for t in targets]
        passes.feedback.check()
    return results, checks, writers


def _date_writers(outputs: OutputSet, stack: Stack, t: int, folder: str, variant: str,
                  weights: str) -> tuple[RasterWriter, RasterWriter]:
    """Date ``t``'s filled raster and filled-pixel mask, added to ``outputs``."""
    path, mask_path = output_paths(stack.msi[t].path, folder)
    meta = {MODEL_KEY: variant, WEIGHTS_KEY: os.path.basename(weights),
            SOURCE_KEY: stack.msi[t].name}
    image = outputs.add(RasterWriter(path, stack.msi[t], metadata=meta))
    mask = outputs.add(RasterWriter(mask_path, stack.msi[t], band_count=1, dtype=np.uint8,
                                    descriptions=["filled"], nodata=None, metadata=meta))
    return image, mask


def _index_rasters(outputs: OutputSet, results: list[FilledDate],
                   writers: dict[int, tuple[RasterWriter, RasterWriter]],
                   indices: tuple[str, ...], log: Feedback) -> None:
    """Each filled date's ``indices`` rasters added to ``outputs`` (and to its result)."""
    if not indices:
        return
    from .parcels.index_raster import add_index_raster
    for r in results:
        for index in indices:
            try:
                r.index_paths[index] = add_index_raster(outputs, writers[r.date_index][0],
                                                        index, log)
            except CloudFillError as e:   # bands without names: said, not fatal
                log.warn(f"No {index} layer for {r.path}: {e}")


def _report(stack: Stack, outputs: OutputSet, results: list[FilledDate],
            checks: list[DateCheck], writers: dict[int, tuple[RasterWriter, RasterWriter]],
            folder: str, model: str, log: RunLog) -> list[str]:
    """Add the self-check's report (when there are checks) and the run's log to ``outputs``
    (put in place with the rasters, all or nothing); return what the run says once they are:
    the files written and the plain summary of each date."""
    summary = [plain_summary(c, r.cloud_fraction) for c, r in zip(checks, results)]
    report = os.path.join(folder, CHECK_REPORT)
    if checks:
        pictures = [date_pictures(stack, r.date_index, writers[r.date_index]) for r in results]
        write_report(outputs.add(TextOutput(report)).tmp_path, model, checks, summary,
                     pictures)
    log_path = os.path.join(folder, RUN_LOG)
    closing = [f"Wrote {r.path}" for r in results]
    if checks:
        closing.append(f"Self-check report: {report}")
    closing.append(f"Run log: {log_path}")
    if summary:
        closing += ["In short:", *(f"  {line}" for line in summary)]
    log.add_to(outputs, log_path, f"SMTS CloudFill Reconstruct with {model} into '{folder}'",
               closing)
    return closing


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
