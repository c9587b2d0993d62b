"""The fill pass: one model over one stack, group of dates by group, on one device.

Streaming: the raster is processed in strips of output columns (:mod:`..plan.strips`), each top
to bottom one window-row at a time, in blocks of windows (with their overlap halo) that worker
threads (:mod:`..workers`) read and run while this thread blends and writes the blocks before;
finished rows go to the outputs one tile-row at a time. Memory depends on the strip and block
sizes (:class:`.settings.FillSettings`), not on the raster's size, and GDAL's block cache is held
near what one strip needs.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from ..feather import RowBlender
from ..choose.candidates import FULL, FillPlan
from ..choose.candidate_errors import DRAWS
from ..choose.date_check import DateCheck, describe_check
from ..choose.self_check import CHECK_WINDOWS, check_group
from ..model.config import ModelConfig
from ..plan.strips import Block, column_strips, plan_blocks
from ..plan.windows import check_windows, default_overlap, plan_windows
from ..progress import Feedback
from ..block_cache import gdal_cache_limit, working_set
from ..fill_checks import check_spacing, warn_empty_sar
from ..read.dates import day_numbers
from ..read.stack import Stack
from ..workers import MemoryTrimmer, OrderedWorkers, PerThread, available_cores
from ..write.raster import MASK_FILLED, RasterWriter
from ..write.strips import StripWriter
from .batches import compose_date, model_batch, run_block
from .cluster import BlockTask, cluster_results, new_key
from .settings import FillSettings

#: A worker's result for a block on which CUDA ran out of memory (:meth:`_GroupFill.work`).
_OUT_OF_MEMORY = object()


@contextlib.contextmanager
def worker_threads(dev: torch.device, workers: int | None = None) -> Iterator[int]:
    """How many workers run the model (``workers``, or chosen here when None), and torch's
    threads for each while they run.

    On the CPU, torch's thread budget (all cores unless OMP_NUM_THREADS or
    torch.set_num_threads say otherwise) is split between up to 4 workers: the model's small
    matrices (144 tokens of width 128 a window) use one core each far better than several,
    and a worker reading its next block leaves its core to another's model. With CUDA, the
    GPU runs one worker's batch while the others read.
    """
    budget = torch.get_num_threads()
    if workers is None:
        workers = max(2, min(4, available_cores())) if dev.type == "cuda" else \
            max(1, min(4, budget))
    if dev.type == "cuda" or workers == 1:
        yield workers
        return
    torch.set_num_threads(max(1, budget // workers))
    try:
        yield workers
    finally:
        torch.set_num_threads(budget)


@dataclass
class Group:
    """The dates of one pass: the stack's ``dates`` the model sees together, the positions
    ``keep`` among them of the dates written, the SAR dates, and the dates' day numbers."""

    dates: list[int]
    keep: list[int]
    sar: list[int] | None
    days: torch.Tensor | None

    @property
    def written(self) -> list[int]:
        """The stack's indices of the dates written, in ``keep``'s order."""
        return [self.dates[k] for k in self.keep]


def fill_plan(found: list[DateCheck], keep: list[int], dates: int) -> FillPlan:
    """The self-check's choice for each of a group's ``dates`` (``found``: the checks of the
    dates written, in ``keep``'s order). Dates that are not written need nothing (weight 0:
    no model for them)."""
    chosen = {k: c for k, c in zip(keep, found)}
    return FillPlan(
        tuple(chosen[k].weight if k in chosen else 0.0 for k in range(dates)),
        tuple(chosen[k].scale if k in chosen else 0.0 for k in range(dates)),
        tuple(chosen[k].kind if k in chosen else FULL for k in range(dates)))


class FillPass:
    """The self-check and the fill of each group of dates of ``stack`` with ``model``.

    The model starts on ``device``; when CUDA runs out of memory it is moved to the CPU once,
    on this (the main) thread while no worker runs it (:meth:`fall_back_to_cpu`), and
    :attr:`device` says where it is. ``open_stack`` opens the stack again for each worker
    thread (GDAL datasets are not shared between threads).
    """

    def __init__(self, stack: Stack, open_stack: Callable[[], Stack], model,
                 config: ModelConfig, device: torch.device, batch_size: int,
                 feedback: Feedback, settings: FillSettings = FillSettings(),
                 weights: str = "", client=None) -> None:
        self.stack, self.open_stack, self.model = stack, open_stack, model
        # With FillSettings.scheduler: the cluster's client, and the model's file its workers read.
        self.weights, self.client = weights, client
        self.device, self.batch_size, self.feedback = device, batch_size, feedback
        self.settings = settings
        self.size = config.window
        self.bands = len(config.msi_bands)
        self.overlap = default_overlap(self.size, config.patch) if settings.overlap is None \
            else settings.overlap
        self.rows = plan_windows(stack.width, stack.height, self.size, self.overlap)
        self.trim = MemoryTrimmer()

    def run_group(self, group: list[int], targets: list[int], sar: list[int] | None,
                  writers: list[tuple[RasterWriter, RasterWriter]], span: tuple[float, float],
                  self_check: bool) -> tuple[list[DateCheck], int]:
        """Check (when ``self_check``) and fill the ``targets`` of one ``group`` into their
        (image, mask) ``writers``, over ``span`` (start, share) of the run's progress; return
        the checks of the targets (in their order) and the windows the fill ran."""
        keep = [group.index(t) for t in targets]
        check_spacing(self.stack, group, sar, self.feedback)
        known = day_numbers([self.stack.dates[t] for t in group])
        days = None if known is None else torch.tensor(known, dtype=torch.float32)
        dates = Group(group, keep, sar, days)
        start, share = span
        found: list[DateCheck] = []
        plan = None
        if self_check:
            # The check's share of the group's progress: its window runs against the fill's
            # (at most one run per window).
            runs = self.check_runs(len(keep))
            part = share * runs / (runs + sum(map(len, self.rows)))
            found = self.check(dates, (start, part))
            start, share = start + part, share - part
            plan = fill_plan(found, keep, len(group))
        ran = _GroupFill(self, dates, writers, (start, share), plan).run()
        return found, ran

    def check_runs(self, targets: int) -> int:
        """About how many window runs the self-check of a group with ``targets`` cloudy dates
        makes (held-back pixels only: whole dates, when there are any, add a few)."""
        return len(check_windows(self.rows, CHECK_WINDOWS)) * DRAWS * targets

    def check(self, group: Group, span: tuple[float, float] = (0.0, 0.0)) -> list[DateCheck]:
        """Run :func:`..choose.self_check.check_group` on a few windows of this group; log each
        date; return the checks.

        The check runs the model on this (the main) thread while no worker does (before the
        group's fill), so when CUDA runs out of memory it falls back at once and starts the
        check over on the CPU (same windows, same seed: the same checks as a run on the CPU)."""
        stack, feedback, size, batch_size = self.stack, self.feedback, self.size, self.batch_size
        windows = check_windows(self.rows, CHECK_WINDOWS)
        batches = []
        for start in range(0, len(windows), batch_size):
            part = windows[start:start + batch_size]
            parts = [model_batch(stack.read(w.x0, w.y0, w.w, w.h, group.sar, group.dates),
                                 w.x0, [w], size) for w in part]
            batches.append(tuple(None if parts[0][i] is None else
                                 np.concatenate([p[i] for p in parts]) for i in range(3)))
        warn_empty_sar(stack, group.sar, batches, feedback)
        names = [stack.msi[t].name for t in group.dates]
        dates = [str(stack.dates[t] or "?") for t in group.dates]

        first, share = span
        feedback.progress(first, "Self-check: " + ", ".join(names[k] for k in group.keep))

        def run(on: torch.device) -> list[DateCheck]:
            return check_group(self.model, on, batches, group.days, group.keep, names, dates,
                               seed=group.dates[0], check=feedback.check, chunk=batch_size,
                               progress=lambda f: feedback.progress(first + share * f))

        out_of_memory = False
        try:
            found = run(self.device)
        except torch.cuda.OutOfMemoryError:
            if self.device.type != "cuda":
                raise
            out_of_memory = True
        if out_of_memory:
            self.fall_back_to_cpu()
            found = run(self.device)
        for c in found:
            feedback.info(describe_check(c))
        return found

    def fall_back_to_cpu(self) -> None:
        """CUDA ran out of memory: warn and move the model to the CPU.

        Called on the main thread while no worker runs the model (the pool drained, or before
        the fill), and outside the exception handler (its traceback holds the CUDA tensors),
        so the model moves once, no batch sees it half-moved, and the freed memory goes back
        to the GPU. On the CPU this error cannot come again: the warning is given once a run."""
        self.feedback.warn("CUDA ran out of memory; continuing on the CPU (slower).")
        self.model.to("cpu")
        torch.cuda.empty_cache()
        self.device = torch.device("cpu")


class _Progress:
    """Windows done of ``total``, reported as ``start + share * done / total``."""

    def __init__(self, feedback: Feedback, total: int, start: float, share: float) -> None:
        self.feedback, self.total, self.done = feedback, total, 0
        self.start, self.share = start, share

    def add(self, n: int) -> None:
        self.done += n
        self.feedback.progress(min(1.0, self.start + self.share * self.done / self.total))


class _GroupFill:
    """One group of dates filled over the whole raster (running only the windows that have a
    missing pixel on a target date, :func:`.batches.windows_to_run`), its targets written.

    Strip by strip of output columns (aligned on the output's tiles), each window-row by
    window-row, in blocks of whole batches that worker threads read and run ahead while this
    thread blends and writes. Every window that touches a strip is run for it, so each pixel is
    blended from the same windows in the same order as in one pass over whole rows: the result
    depends neither on the strips nor on the blocks.

    When CUDA runs out of memory on a block, the worker only says so; this thread, on the first
    such block, drains the pool (the blocks after it are dropped), moves the model to the CPU
    once and goes on from that block with a new pool: blocks already written stay as they are
    (:meth:`results`).
    """

    def __init__(self, fill: FillPass, group: Group,
                 writers: list[tuple[RasterWriter, RasterWriter]], part: tuple[float, float],
                 plan: FillPlan | None) -> None:
        self.fill, self.group, self.writers, self.plan = fill, group, writers, plan
        stack, settings = fill.stack, fill.settings
        self.strips = column_strips(stack.width, writers[0][0].block_size[0],
                                    settings.strip_columns)
        self.blocks, self.spans = plan_blocks(fill.rows, stack.height, self.strips,
                                              fill.batch_size, settings.block_windows)
        self.progress = _Progress(fill.feedback, sum(len(b.windows) for b in self.blocks), *part)
        self.need = working_set(stack.datasets(group.dates, group.sar),
                                max(s1 - s0 for s0, s1 in self.spans), fill.size)
        self.stacks = PerThread(fill.open_stack)
        self.pool: OrderedWorkers | None = None
        self.ran = 0
        # The strip being written: its first column read, blender and (image, mask) writers.
        self.strip, self.s0 = -1, 0
        self.blender: RowBlender | None = None
        self.out: list = []

    def run(self) -> int:
        """Fill and write the group; return the windows run."""
        settings = self.fill.settings
        cache = max(settings.gdal_cache_floor, int(settings.gdal_cache_share * self.need))
        try:
            with gdal_cache_limit(cache), \
                    contextlib.closing(self.results()) as ordered:   # closed: the pool drained
                for block, (raw, missing, preds) in ordered:
                    if block.strip != self.strip:
                        self._start_strip(block.strip)
                    self._blend(block, raw, missing, preds)
        finally:
            self.stacks.close()
        total = self.progress.total
        self.fill.feedback.info(f"  {self.ran} of {total} windows run ({total - self.ran} "
                                "skipped: no missing pixel on the dates filled).")
        return self.ran

    def work(self, block: Block):
        """:func:`.batches.run_block` on a worker thread (each with its own opened stack);
        when CUDA runs out of memory, return :data:`_OUT_OF_MEMORY` and leave the model to the
        main thread."""
        fill = self.fill
        try:
            return run_block(self.stacks.get(), fill.model, fill.device, self.group, self.plan,
                             fill.size, fill.batch_size, fill.settings.skip_clear_windows, block,
                             self.pool.stop.is_set)
        except torch.cuda.OutOfMemoryError:
            if fill.device.type != "cuda":
                raise
            return _OUT_OF_MEMORY

    def results(self):
        """(block, what :meth:`work` returned) in order, from a pool of workers on the fill's
        device; on the first block on which CUDA ran out of memory, drain the pool (the blocks
        after it are dropped), fall back to the CPU once and go on from that block with a new
        pool."""
        fill, blocks, done = self.fill, self.blocks, 0
        if fill.client is not None:
            task = BlockTask(new_key(), fill.open_stack, fill.weights, fill.device.type,
                             self.group, self.plan, fill.size, fill.batch_size,
                             fill.settings.skip_clear_windows)
            yield from cluster_results(fill.client, task, blocks,
                                       fill.settings.blocks_ahead, fill.feedback.check)
            return
        while done < len(blocks):
            with worker_threads(fill.device, fill.settings.workers) as workers, \
                    OrderedWorkers(self.work, blocks[done:], workers,
                                   workers + fill.settings.blocks_ahead) as self.pool:
                for block, result in self.pool.results(fill.feedback.check):
                    if result is _OUT_OF_MEMORY:
                        break   # leaving the pool drains it: no worker runs the model after
                    yield block, result
                    done += 1
            if done < len(blocks):   # out of memory on blocks[done]
                fill.fall_back_to_cpu()

    def _start_strip(self, strip: int) -> None:
        """A new strip of columns: its blender, and a strip writer of each output."""
        fill = self.fill
        self.strip = strip
        x0, x1 = self.strips[strip]
        s0, s1 = self.spans[strip]
        self.s0 = s0
        self.blender = RowBlender(len(self.group.keep) * fill.bands, s1 - s0, fill.size,
                                  fill.overlap)
        self.out = [tuple(StripWriter(writer, fill.size, x0, x1) for writer in pair)
                    for pair in self.writers]

    def _blend(self, block: Block, raw: np.ndarray, missing: np.ndarray, preds: list) -> None:
        """Add a block's predictions to the blender, write what it finishes, and the finished
        rows at the end of a window-row."""
        for w, p in zip(block.windows, preds):
            if p is not None:   # skipped: clear on every date written, see windows_to_run
                self.blender.add(w.x0 - self.s0, w.y0, w.w, w.h, p)
                self.ran += 1
        self.progress.add(len(block.windows))   # skipped windows are done too
        if block.x_to > block.x_from:
            self._write(block, raw, missing)
        if block.row_end:
            self.blender.next_row(block.next_top)
            for image, mask in self.out:
                image.rows_done(block.next_top)
                mask.rows_done(block.next_top)
            self.fill.trim()

    def _write(self, block: Block, raw: np.ndarray, missing: np.ndarray) -> None:
        """Each written date over the block's own columns: its input where clear, the blend
        where missing (:func:`.batches.compose_date`), and its filled-pixel mask."""
        fill, group = self.fill, self.group
        bx, y0 = block.windows[0].x0, block.windows[0].y0
        n = block.next_top - y0
        xs = slice(block.x_from - bx, block.x_to - bx)
        blended = None
        for k, (image, mask) in enumerate(self.out):
            value, filled = raw[k, :, :n, xs], missing[k, :n, xs]
            if filled.any():   # else: the input as it is, no blend needed
                if blended is None:
                    blended = self.blender.finish(block.x_from - self.s0, block.x_to - self.s0, n)
                    blended = blended.reshape(len(group.keep), fill.bands, n, -1)
            image.put(block.x_from, y0,
                      compose_date(fill.stack, group.written[k], value, filled,
                                   None if blended is None else blended[k]))
            mask.put(block.x_from, y0, (filled * MASK_FILLED).astype(np.uint8))
