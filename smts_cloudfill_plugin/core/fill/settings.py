"""How a fill pass streams a raster: its threads, blocks and strips, and the windows' overlap."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FillSettings:
    """The fill pass's settings; the defaults are what a run uses.

    Only ``overlap`` changes the result: the others set memory and speed, and the outputs are
    the same bits whatever they are (tested).

    Attributes:
        block_windows: windows read and run as one block (rounded up to whole batches): a
            block's inputs take about 0.4 MB per window.
        workers: threads that each read a block and run the model on it, while the caller's
            thread blends and writes the blocks before (None: chosen from the device and
            torch's thread count, :func:`.fill_pass.worker_threads`).
        blocks_ahead: blocks in flight beyond the workers' own.
        strip_columns: output columns per strip: the raster is processed strip by strip (each
            top to bottom), so memory depends on this, not on the raster's width or height.
            The windows that straddle a strip's edge are run for both strips (about
            60 / strip_columns more work).
        gdal_cache_floor, gdal_cache_share: GDAL's block cache is held at most at the floor, or
            the share x what one strip needs.
        overlap: pixels shared by neighbouring windows (None: :func:`..plan.windows.
            default_overlap` of the model's window and patch).
        skip_clear_windows: run only the windows with a missing pixel on a date written
            (:func:`.batches.windows_to_run`); False runs every window, the same bits slower.
        scheduler: a ``dask.distributed`` scheduler's address: the blocks are read and run as
            tasks of that cluster (:mod:`.cluster`) instead of on this machine's threads.
    """

    block_windows: int = 24
    workers: int | None = None
    blocks_ahead: int = 1
    strip_columns: int = 2048
    gdal_cache_floor: int = 128 << 20
    gdal_cache_share: float = 2
    overlap: int | None = None
    skip_clear_windows: bool = True
    scheduler: str | None = None
