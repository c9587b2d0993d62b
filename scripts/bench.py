"""`make bench`: how fast and how lean reconstruct is, from one run on this machine.

Printed:
- the model's FLOPs per pixel and the machine's measured dense fp32 matmul rate (torch, all
  cores), and reconstruct's achieved model FLOP rate as a ratio of it (the "roofline" ratio);
- pixels per second of reconstruct and of temporal interpolation on stacks of 512, 2048 and
  8192 px square made from the shipped real sample, with the peak resident memory of each run
  (each size runs in a fresh subprocess);
- the projected time for a full Sentinel-2 tile (10980 x 10980 px) on this CPU;
- on CUDA, when torch sees a GPU: the same figures there and a projected full-tile time;
- skipping clear windows: reconstruct (model alone, no self-check) on a raster whose two cloudy
  dates are 10 % cloudy (one square of cloud) against the same raster fully cloudy, with the
  windows run and the time ratio, and the share of windows a full tile would run with such a
  square;
- a season's passes: how many passes over the raster the real held-out 2019 season (48 dates,
  30 of them cloudy) takes with one group of dates per cloudy date (the earlier grouping)
  and with the cover of ``core/plan/date_groups.py``.

The benchmark stacks cost almost no disk: for every file of the real sample (6 MSI dates, 6 SCL,
5 SAR at 20 m), a small tiled GeoTIFF (MSI and SCL DEFLATE-compressed) holds 4 blocks of 512 px,
each made of 8 x 8 copies of the sample's 64 px tile turned or mirrored at random (the same way
for every date, mask and SAR, so clouds stay where the sample has them); GDAL VRTs mosaic these
blocks, picked at random, into rasters of any size. Everything lives in a temporary folder
that is removed at the end. A full 8192 px run would take longer than the benchmark's budget on a
small CPU, so the 8192 px figure comes from the first rows of the full 8192 px width (memory
depends on the width, not on the height; the output says how many rows).

The last line sums the run up, so that runs can be compared:
    bench: roofline_ratio=R cpu_px_per_s=P interp_px_per_s=I rss_mb=A,B,C tile_min=T skip_ratio=S
           season_passes=BEFORE->AFTER
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()

SAMPLE = os.path.join(ROOT, "resources", "sample")
TILE = 64            # the sample's side at 10 m
BLOCK = 512          # side of the first-level mosaics (8 x 8 sample tiles)
BLOCK_VARIANTS = 4   # different random first-level mosaics
FULL_TILE = 10980    # a Sentinel-2 tile at 10 m
SIZES = (512, 2048, 8192)
WIDE_ROWS = 500      # rows of the 8192 px wide raster that are run (12 window-rows)
SKIP_SIZE = 2048     # side of the 10 %-cloudy and fully cloudy rasters of the skip figure
SKIP_COVER = 0.10    # cloud cover of the partly cloudy one
CLOUDY_DATES = (1, 3)  # the sample's cloudy dates; clouds are drawn on these only


# ----- benchmark stacks ------------------------------------------------------------------------
def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 rotations/mirrorings of the last two axes."""
    if k & 4:
        a = a.swapaxes(-1, -2)
    return np.ascontiguousarray(np.rot90(a, k & 3, axes=(-2, -1)))


def _sample_files(kind: str) -> list[str]:
    return sorted(glob.glob(os.path.join(SAMPLE, kind, "*.tif")))


def _band_xml(ds: gdal.Dataset, i: int) -> tuple[str, str, float | None]:
    b = ds.GetRasterBand(i + 1)
    return gdal.GetDataTypeName(b.DataType), b.GetDescription(), b.GetNoDataValue()


def _write_vrt(path: str, width: int, height: int, gt, wkt: str, bands, metadata: dict,
               sources: list[tuple[str, int, int, int, int, int, int]]) -> None:
    """A VRT whose every band mosaics ``sources``: (file, sx, sy, w, h, dx, dy) in pixels."""
    from xml.sax.saxutils import escape
    out = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
           f"<SRS>{escape(wkt)}</SRS>",
           "<GeoTransform>" + ", ".join(repr(float(v)) for v in gt) + "</GeoTransform>"]
    if metadata:
        out.append("<Metadata>" + "".join(f'<MDI key="{escape(k)}">{escape(v)}</MDI>'
                                          for k, v in metadata.items()) + "</Metadata>")
    for i, (dtype, desc, nodata) in enumerate(bands):
        out.append(f'<VRTRasterBand dataType="{dtype}" band="{i + 1}">')
        if desc:
            out.append(f"<Description>{escape(desc)}</Description>")
        if nodata is not None:
            out.append(f"<NoDataValue>{'nan' if np.isnan(nodata) else repr(nodata)}</NoDataValue>")
        for f, sx, sy, w, h, dx, dy in sources:
            out.append(f'<SimpleSource><SourceFilename relativeToVRT="0">{escape(f)}'
                       f"</SourceFilename><SourceBand>{i + 1}</SourceBand>"
                       f'<SrcRect xOff="{sx}" yOff="{sy}" xSize="{w}" ySize="{h}"/>'
                       f'<DstRect xOff="{dx}" yOff="{dy}" xSize="{w}" ySize="{h}"/></SimpleSource>')
        out.append("</VRTRasterBand>")
    out.append("</VRTDataset>")
    with open(path, "w") as f:
        f.write("\n".join(out))


class BenchStacks:
    """Sample-based VRT stacks of any size in ``folder`` (see the module docstring).

    For every sample file, one GeoTIFF (DEFLATE, tiled, like real inputs) holds BLOCK_VARIANTS
    blocks of 8 x 8 sample tiles side by side, each tile turned or mirrored at random (the same
    way in every file, so clouds, dates and SAR stay consistent); a stack's VRT picks one block
    variant for each 512 px block. Few files, so GDAL keeps them all open.
    """

    def __init__(self, folder: str, seed: int = 7) -> None:
        self.folder = folder
        self.files = {k: _sample_files(k) for k in ("msi", "scl", "sar")}
        assert [len(v) for v in self.files.values()] == [6, 6, 5], "the sample stack is incomplete"
        ref = gdal.Open(self.files["msi"][0])
        self.wkt, self.gt = ref.GetProjection(), ref.GetGeoTransform()
        n = BLOCK // TILE
        turns = np.random.default_rng(seed).integers(0, 8, size=(BLOCK_VARIANTS, n, n))
        self.info, self.blocks = {}, {}
        for kind, paths in self.files.items():
            for p in paths:
                ds = gdal.Open(p)
                a = ds.ReadAsArray()
                a = a if a.ndim == 3 else a[None]
                side = a.shape[-1]          # 64 px at 10 m, 32 px for SAR at 20 m
                bs = side * n
                blocks = np.empty((a.shape[0], bs, bs * BLOCK_VARIANTS), a.dtype)
                for v in range(BLOCK_VARIANTS):
                    for j in range(n):
                        for i in range(n):
                            blocks[:, j * side:(j + 1) * side,
                                   v * bs + i * side:v * bs + (i + 1) * side] = \
                                _dihedral(a, int(turns[v, j, i]))
                dst = os.path.join(folder, "blocks", kind, os.path.basename(p))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                dtype = ds.GetRasterBand(1).DataType
                # MSI and SCL DEFLATE-compressed like Sentinel-2 products; SAR plain (its few
                # small source tiles serve the whole mosaic, so their decoding would be
                # counted over and over as GDAL's cache turns).
                opts = ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128"]
                if kind != "sar":
                    opts += ["COMPRESS=DEFLATE", "PREDICTOR=2"]
                out = gdal.GetDriverByName("GTiff").Create(
                    dst, blocks.shape[2], blocks.shape[1], blocks.shape[0], dtype, opts)
                for i in range(blocks.shape[0]):
                    out.GetRasterBand(i + 1).WriteArray(blocks[i])
                out = None
                self.info[p] = ([_band_xml(ds, i) for i in range(ds.RasterCount)],
                                ds.GetMetadata() or {}, dtype, side)
                self.blocks[p] = dst

    def _gt(self, pixel: float) -> tuple[float, ...]:
        return (self.gt[0], pixel, 0.0, self.gt[3], 0.0, -pixel)

    def stack(self, width: int, height: int, square: int | None = None) -> dict[str, list[str]]:
        """MSI, SCL and SAR VRTs of ``width`` x ``height`` px (10 m) from random blocks: the top
        ``height`` rows of the ``width`` x ``square`` px mosaic (default: all of it)."""
        folder = os.path.join(self.folder, f"stack_{width}x{height}")
        nx, ny = -(-width // BLOCK), -(-height // BLOCK)
        rng = np.random.default_rng(width * 7919 + (square or height))
        pick = rng.integers(0, BLOCK_VARIANTS, size=(-(-(square or height) // BLOCK), nx))[:ny]
        out: dict[str, list[str]] = {}
        for kind, paths in self.files.items():
            out[kind] = []
            for t, p in enumerate(paths):
                bands, md, _, side = self.info[p]
                scale = side / TILE
                w, h, bs = int(width * scale), int(height * scale), int(BLOCK * scale)
                srcs = []
                for j in range(ny):
                    for i in range(nx):
                        sw, sh = min(bs, w - i * bs), min(bs, h - j * bs)
                        srcs.append((self.blocks[p], int(pick[j, i]) * bs, 0, sw, sh,
                                     i * bs, j * bs))
                name = os.path.basename(p)[:-4].replace("0000280849BAC91C", "bench") + ".vrt"
                dst = os.path.join(folder, kind, name)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                _write_vrt(dst, w, h, self._gt(10.0 / scale), self.wkt, bands, md, srcs)
                out[kind].append(dst)
        return out


def cloud_square(side: int, cover: float) -> tuple[int, int]:
    """(start, length) along each axis of the centred square that covers ``cover`` of a
    ``side`` x ``side`` raster."""
    length = min(side, int(round(side * cover ** 0.5)))
    return (side - length) // 2, length


def square_cloud_masks(folder: str, stack: dict[str, list[str]], cover: float) -> list[str]:
    """SCL rasters on the stack's grid: clear vegetation (class 4) everywhere, except cloud
    (class 9) over a centred square covering ``cover`` of the area on CLOUDY_DATES (all of it
    when ``cover`` is 1). The stack's MSI and SAR go with them unchanged."""
    ref = gdal.Open(stack["msi"][0])
    width, height = ref.RasterXSize, ref.RasterYSize
    (x0, w), (y0, h) = cloud_square(width, cover), cloud_square(height, cover)
    os.makedirs(folder, exist_ok=True)
    paths = []
    for t in range(len(stack["msi"])):
        scl = np.full((height, width), 4, np.uint8)
        if t in CLOUDY_DATES:
            scl[y0:y0 + h, x0:x0 + w] = 9
        path = os.path.join(folder, f"scl_{t}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, width, height, 1, gdal.GDT_Byte,
                                                  ["TILED=YES", "COMPRESS=DEFLATE"])
        ds.SetGeoTransform(ref.GetGeoTransform())
        ds.SetProjection(ref.GetProjection())
        band = ds.GetRasterBand(1)
        band.SetDescription("SCL")
        band.WriteArray(scl)
        ds = None
        paths.append(path)
    return paths


def windows_touching_square(side: int, cover: float) -> tuple[int, int]:
    """(windows that touch the centred cloud square, all windows) on a ``side`` px square
    raster with the bundled model's window and overlap: what reconstruct runs there."""
    from smts_cloudfill_plugin.core.plan.windows import default_overlap, plan_windows
    start, length = cloud_square(side, cover)
    windows = [w for row in plan_windows(side, side, 60, default_overlap(60, 5))
               for w in row]
    touch = sum(w.x0 < start + length and w.x0 + w.w > start and
                w.y0 < start + length and w.y0 + w.h > start for w in windows)
    return touch, len(windows)


# ----- measurements (each run in a fresh subprocess: its peak memory is its own) --------------
def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_reconstruct(args) -> dict:
    from smts_cloudfill_plugin.core import reconstruct as rec
    stack = json.loads(args.stack)
    out = os.path.join(args.out, "reconstruct")
    t0 = time.perf_counter()
    results = rec.reconstruct(stack["msi"], out, masks=stack["scl"], sar=stack["sar"],
                              weights=args.weights, device=args.device,
                              self_check=not args.no_check)
    seconds = time.perf_counter() - t0
    width, height = _size(stack["msi"][0])
    shutil.rmtree(out, ignore_errors=True)
    windows = sum({r.group: r.windows_run for r in results}.values())
    return {"seconds": seconds, "pixels": width * height, "windows": windows,
            "dates": len(results), "rss_mb": peak_rss_mb()}


def child_interp(args) -> dict:
    """Temporal interpolation streamed like reconstruct: scan for clouds, then tile-aligned
    blocks read, interpolated and the cloudy dates written (same reader and writer)."""
    from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal
    from smts_cloudfill_plugin.core.model.config import S2_BANDS
    from smts_cloudfill_plugin.core.read.dates import day_numbers
    from smts_cloudfill_plugin.core.progress import Feedback
    from smts_cloudfill_plugin.core.fill.batches import compose_date
    from smts_cloudfill_plugin.core.reconstruct import output_paths
    from smts_cloudfill_plugin.core.read.stack import Stack
    from smts_cloudfill_plugin.core.block_cache import gdal_cache_limit
    from smts_cloudfill_plugin.core.read.missing import scan_missing
    from smts_cloudfill_plugin.core.write.output_set import OutputSet
    from smts_cloudfill_plugin.core.write.raster import MASK_FILLED, RasterWriter
    stack = json.loads(args.stack)
    out = os.path.join(args.out, "interp")
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with Stack(stack["msi"], stack["scl"], None, bands=S2_BANDS) as st, \
            gdal_cache_limit(64 << 20), OutputSet() as outputs:
        fractions = scan_missing(st, Feedback()).fractions
        targets = [t for t, f in enumerate(fractions) if f > 0]
        days = np.array(day_numbers(st.dates), dtype=np.float64)
        writers = {}
        for t in targets:
            path, mask_path = output_paths(st.msi[t].path, out)
            writers[t] = (outputs.add(RasterWriter(path, st.msi[t])),
                          outputs.add(RasterWriter(mask_path, st.msi[t], band_count=1,
                                                   dtype=np.uint8, descriptions=["filled"],
                                                   nodata=None)))
        bh = writers[targets[0]][0].ds.GetRasterBand(1).GetBlockSize()[1]
        bw = min(256, st.width)
        for y in range(0, st.height, bh):
            for x in range(0, st.width, bw):
                w, h = min(bw, st.width - x), min(bh, st.height - y)
                blk = st.read(x, y, w, h)
                filled = interpolate_temporal(blk.msi, blk.missing, days)
                for t in targets:
                    # Each date in its own type, scale and band order, as reconstruct does.
                    missing = blk.missing[t]
                    raw = compose_date(st, t, blk.raw[t], missing, filled[t])
                    image, mask = writers[t]
                    image.write(x, y, raw)
                    mask.write(x, y, (missing * MASK_FILLED).astype(np.uint8))
                for image, mask in writers.values():
                    image.ds.FlushCache()
                    mask.ds.FlushCache()
    seconds = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "pixels": st.width * st.height, "dates": len(targets),
            "rss_mb": peak_rss_mb()}


def child_model(args) -> dict:
    """The model alone, in reconstruct's worker set-up, on random windows: its ceiling."""
    import threading

    import torch
    from smts_cloudfill_plugin.core.fill.fill_pass import worker_threads
    from smts_cloudfill_plugin.core.model.weights import load_model
    model, info = load_model(args.weights, args.device)
    cfg, size = info.config, info.config.window
    dev = torch.device(args.device)
    batch = 8
    counts: list[int] = []

    def run(stop_at: float) -> None:
        msi = torch.rand(batch, cfg.msi_dates, len(cfg.msi_bands), size, size, device=dev) * 0.3
        missing = torch.rand(batch, cfg.msi_dates, size, size, device=dev) < 0.2
        sar = torch.randn(batch, cfg.sar_dates, 2, size, size, device=dev) if cfg.uses_sar else None
        with torch.inference_mode():
            model(msi, missing, sar)
            while time.perf_counter() < stop_at:
                model(msi, missing, sar).float().cpu()
                counts.append(batch)

    with worker_threads(dev) as workers:
        stop_at = time.perf_counter() + args.seconds
        t0 = time.perf_counter()
        threads = [threading.Thread(target=run, args=(stop_at,)) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        threads_each = torch.get_num_threads()
    return {"seconds": seconds, "windows": sum(counts), "workers": workers,
            "threads_each": threads_each}


def _size(path: str) -> tuple[int, int]:
    ds = gdal.Open(path)
    return ds.RasterXSize, ds.RasterYSize


def run_child(kind: str, stack: dict | None, weights: str, device: str, out: str,
              timeout: float = 400, seconds: float = 4.0, check: bool = True) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--weights", weights,
           "--device", device, "--out", out, "--seconds", str(seconds)]
    if not check:
        cmd.append("--no-check")
    if stack is not None:
        cmd += ["--stack", json.dumps(stack)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"bench: the {kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def matmul_rate(device: str, n: int = 2048, seconds: float = 1.0) -> float:
    """Dense fp32 matmul FLOP/s (torch, all cores / the GPU without TF32): best of 3."""
    import torch
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        n = 8192
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    best = 0.0
    for _ in range(3):
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            a @ b
            reps += 1
            sync()
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0))
    return best


def windows_for(width: int, height: int, batch_size: int = 8) -> int:
    """Windows reconstruct runs on a fully cloudy raster of this size (strip halos included)."""
    from smts_cloudfill_plugin.core.fill.settings import FillSettings
    from smts_cloudfill_plugin.core.plan.strips import column_strips, plan_blocks
    from smts_cloudfill_plugin.core.plan.windows import default_overlap, plan_windows
    tile = 256 if width > 256 or height > 256 else width
    rows = plan_windows(width, height, 60, default_overlap(60, 5))
    settings = FillSettings()
    blocks, _ = plan_blocks(rows, height, column_strips(width, tile, settings.strip_columns),
                            batch_size, settings.block_windows)
    return sum(len(b.windows) for b in blocks)


def bench_weights(folder: str) -> tuple[str, str]:
    """The bundled SMTS-ViT when trained, else the same architecture with random weights."""
    from smts_cloudfill_plugin.core.model.weights import bundled_weights_path, read_weights_info
    path = bundled_weights_path(uses_sar=True)
    if os.path.exists(path):
        return path, f"trained weights {os.path.relpath(path, ROOT)}"
    import torch
    from smts_cloudfill_plugin.core.model.config import smts_vit
    from smts_cloudfill_plugin.core.model.network import SmtsVit
    from smts_cloudfill_plugin.core.model.weights import save_weights
    torch.manual_seed(0)
    path = save_weights(os.path.join(folder, "smts_vit_random.pt"), SmtsVit(smts_vit())).path
    read_weights_info(path)
    return path, "random weights (model_weights/smts_vit.pt not trained yet; timing is the same)"


def device_runs(label: str, device: str, stacks: dict, weights: str, out: str, fpp: float,
                window_px: int) -> dict:
    """Matmul rate, model ceiling and reconstruct at every size on one device; printed."""
    rate = matmul_rate(device)
    model = run_child("model", None, weights, device, out)
    model_flops = model["windows"] * window_px * fpp / model["seconds"]
    print(f"\n== {label} ==")
    print(f"dense fp32 matmul (torch, {'2048' if device == 'cpu' else '8192'}^2): "
          f"{rate / 1e9:.1f} GFLOP/s measured")
    print(f"model alone ({model['workers']} worker(s) x {model['threads_each']} thread(s), "
          f"batch 8): {model['windows'] / model['seconds']:.1f} windows/s = "
          f"{model_flops / 1e9:.1f} GFLOP/s = {model_flops / rate:.0%} of matmul")
    runs = {}
    print(f"{'raster':>24} {'reconstruct px/s':>17} {'model GFLOP/s':>14} {'of matmul':>10} "
          f"{'peak RSS':>9} {'time':>7}")
    for name, (stack, note) in stacks.items():
        r = run_child("reconstruct", stack, weights, device, out)
        flops = r["windows"] * window_px * fpp / r["seconds"]
        r.update(flops=flops, ratio=flops / rate, px_s=r["pixels"] / r["seconds"])
        runs[name] = r
        print(f"{name:>24} {r['px_s']:>17,.0f} {flops / 1e9:>14.1f} {r['ratio']:>10.0%} "
              f"{r['rss_mb']:>6.0f} MB {r['seconds']:>6.1f}s{note}")
    return {"matmul": rate, "model": model, "runs": runs}


#: The share of each date's pixels that is cloudy or no data (SCL, clouds and shadows grown by the
#: default 3 px) of the held-out 2019 season of the test site (0000280849BAC91C, 2019-01-01 ..
#: 2019-11-27, 48 dates), as ``scripts/season_eval.py --pattern`` prints it from the shared data.
SEASON_2019 = (1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.368, 0.701, 0.0, 1.0, 0.0, 0.12, 0.0, 0.0,
               0.465, 1.0, 0.022, 0.0, 0.0, 0.247, 0.989, 0.0, 1.0, 0.035, 0.0, 1.0, 0.023, 0.0,
               0.0, 1.0, 0.97, 0.898, 0.0, 1.0, 0.558, 0.953, 0.27, 0.794, 0.0, 0.0, 1.0, 0.0,
               0.468, 0.012, 0.944, 0.0, 1.0)


def one_group_per_date(targets: list[int], count: int, size: int) -> list[list[int]]:
    """The earlier grouping: each cloudy date in the group of ``size`` dates centred on it
    (dates sharing that group shared its pass)."""
    starts = {min(max(t - (size - 1) // 2, 0), max(count - size, 0)) for t in targets}
    return [list(range(s, min(s + size, count))) for s in sorted(starts)]


def season_passes(size: int = 6) -> tuple[int, int]:
    """Passes over the raster for the 2019 season, before (one group per cloudy date) and
    after (the cover); printed."""
    from smts_cloudfill_plugin.core.plan.date_groups import GROUP_MARGIN, cover_dates
    targets = [t for t, f in enumerate(SEASON_2019) if f > 0]
    before = len(one_group_per_date(targets, len(SEASON_2019), size))
    after = len(cover_dates(targets, len(SEASON_2019), size))
    print(f"\n== a season's passes (held-out 2019 season: {len(SEASON_2019)} dates, "
          f"{len(targets)} cloudy; groups of {size} dates) ==")
    print(f"{'one group per cloudy date':>28} {before:>3} passes (before)")
    for margin in range(GROUP_MARGIN, -1, -1):
        n = len(cover_dates(targets, len(SEASON_2019), size, margin))
        note = "used: " if margin == GROUP_MARGIN else ""
        print(f"{'cover, margin ' + str(margin):>28} {n:>3} passes ({note}each cloudy date keeps "
              f"{margin} date{'s' if margin != 1 else ''} on either side)")
    return before, after


def skip_runs(bench: "BenchStacks", size: int, weights: str, out: str) -> float:
    """Reconstruct on a ``size`` px raster 10 % cloudy against the same raster fully cloudy
    (model alone, so that both fill every window they run the same way); printed. Returns
    the time ratio."""
    stack = bench.stack(size, size)
    runs = {}
    for name, cover in (("10 % cloudy", SKIP_COVER), ("fully cloudy", 1.0)):
        masks = square_cloud_masks(os.path.join(out, f"skip_{cover:g}"), stack, cover)
        runs[name] = run_child("reconstruct", {**stack, "scl": masks}, weights, "cpu", out,
                               check=False)
    part, full = runs["10 % cloudy"], runs["fully cloudy"]
    ratio = part["seconds"] / full["seconds"]
    print(f"\n== skipping windows with no missing pixel ({size} x {size} px, dates "
          f"{', '.join(map(str, CLOUDY_DATES))} cloudy, model alone) ==")
    for name, r in runs.items():
        print(f"{name:>24} {r['seconds']:>6.1f}s  {r['windows']:>6,} windows run")
    print(f"{'ratio':>24} {ratio:>6.2f}   (time; windows {part['windows'] / full['windows']:.2f}: "
          "the rest reads the dates written and writes their outputs over the whole raster)")
    touch, total = windows_touching_square(FULL_TILE, SKIP_COVER)
    print(f"a full tile with one square of {SKIP_COVER:.0%} cloud runs {touch:,} of its "
          f"{total:,} windows ({touch / total:.0%}); scattered clouds touch more windows")
    return ratio


def parcel_series_run(bench: "BenchStacks", size: int = 2000, parcels: int = 1000,
                      dates: int = 48) -> float:
    """Parcel time series (issue 20): ``parcels`` random rotated fields of 0.25-9 ha on a
    ``size`` px stack of ``dates`` dates (the bench's 6 dates repeated, dated 5 days apart), NDVI;
    seconds (target: under 60 s on 2 cores)."""
    import datetime as dt

    from osgeo import ogr
    from smts_cloudfill_plugin.core.parcels.series import Parcel, parcel_series
    stack = bench.stack(size, size)
    msi = (stack["msi"] * -(-dates // len(stack["msi"])))[:dates]
    days = [dt.date(2019, 1, 1) + dt.timedelta(days=5 * i) for i in range(dates)]
    rng = np.random.default_rng(0)
    x0, y0, extent = bench.gt[0], bench.gt[3], size * 10.0
    fields = []
    for i in range(parcels):
        cx, cy = rng.uniform(200, extent - 200, 2)
        w, h = rng.uniform(50, 300, 2)
        a = rng.uniform(0, np.pi)
        corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
        ring = [(cx + dx * np.cos(a) - dy * np.sin(a), cy + dx * np.sin(a) + dy * np.cos(a))
                for dx, dy in corners + corners[:1]]
        wkt = "POLYGON((" + ", ".join(f"{x0 + x} {y0 - y}" for x, y in ring) + "))"
        fields.append(Parcel(i, ogr.CreateGeometryFromWkt(wkt).ExportToWkb()))
    start = time.perf_counter()
    rows = parcel_series(fields, msi, None, msi_dates=days)
    seconds = time.perf_counter() - start
    print(f"\nparcel time series: {parcels:,} parcels x {dates} dates on a {size} x {size} px "
          f"stack, NDVI: {seconds:.1f} s ({len(rows):,} rows; target under 60 s)")
    return seconds


def dask_run(bench: "BenchStacks", weights: str, out: str, size: int = 512,
             stacks: int = 4) -> tuple[float, float]:
    """Issue 21: ``stacks`` stacks of ``size`` px through ``core.batch``, here in turn (torch's
    threads on all cores) and on a dask LocalCluster of one single-threaded worker per core;
    the cluster's px/s over the local run's (nan without Dask); and one fill of a stack on this
    machine and with its blocks as tasks of the same cluster (its px/s ratio)."""
    try:
        import distributed
    except ImportError:
        print("\nDask: not installed (make setup installs it); LocalCluster figure skipped.")
        return float("nan"), float("nan")
    from smts_cloudfill_plugin.core.batch import StackJob, run_batch
    st = bench.stack(size, size)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = lambda tag: [StackJob(f"{tag}{i}", st["msi"], os.path.join(out, f"dask_{tag}{i}"),  # noqa: E731
                                 st["scl"], st["sar"]) for i in range(stacks)]
    options = {"weights": weights, "device": "cpu"}
    start = time.perf_counter()
    assert all(o.ok for o in run_batch(jobs("local"), options))
    local = stacks * size * size / (time.perf_counter() - start)
    from smts_cloudfill_plugin.core.fill.settings import FillSettings
    from smts_cloudfill_plugin.core.reconstruct import reconstruct
    start = time.perf_counter()
    reconstruct(st["msi"], os.path.join(out, "fill_local"), masks=st["scl"], sar=st["sar"],
                **options)
    fill_local = size * size / (time.perf_counter() - start)
    with distributed.LocalCluster(n_workers=cores, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster:
        start = time.perf_counter()
        assert all(o.ok for o in run_batch(jobs("cluster"), options, cluster.scheduler_address))
        remote = stacks * size * size / (time.perf_counter() - start)
        start = time.perf_counter()
        reconstruct(st["msi"], os.path.join(out, "fill_cluster"), masks=st["scl"], sar=st["sar"],
                    fill=FillSettings(scheduler=cluster.scheduler_address), **options)
        fill_remote = size * size / (time.perf_counter() - start)
    print(f"\nDask: {stacks} stacks of {size} x {size} px: here in turn {local:,.0f} px/s, on a "
          f"LocalCluster of {cores} single-threaded workers {remote:,.0f} px/s "
          f"({remote / local:.2f}x; target at least 0.8x)")
    print(f"Dask: one fill of {size} x {size} px, its blocks as tasks (reconstruct --scheduler): "
          f"here {fill_local:,.0f} px/s, on the LocalCluster {fill_remote:,.0f} px/s "
          f"({fill_remote / fill_local:.2f}x)")
    return remote / local, fill_remote / fill_local


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", choices=("reconstruct", "interp", "model"))
    ap.add_argument("--stack")
    ap.add_argument("--weights")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--wide-rows", type=int, default=WIDE_ROWS,
                    help="rows of the 8192 px wide raster that are run (default %(default)s)")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--skip-size", type=int, default=SKIP_SIZE,
                    help="side of the rasters of the skip figure (default %(default)s; 0 skips it)")
    ap.add_argument("--no-check", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-parcels", dest="parcels", action="store_false",
                    help="leave out the parcel time series figure")
    ap.add_argument("--no-runtimes", dest="runtimes", action="store_false",
                    help="leave out the network's runtimes side by side")
    ap.add_argument("--no-dask", dest="dask", action="store_false",
                    help="leave out the Dask LocalCluster figure")
    args = ap.parse_args()
    if args.child:
        fn = {"reconstruct": child_reconstruct, "interp": child_interp, "model": child_model}
        print(json.dumps(fn[args.child](args)))
        return

    import platform

    import torch
    from smts_cloudfill_plugin.core.fill.settings import FillSettings
    from smts_cloudfill_plugin.core.model.network import flops_per_pixel
    from smts_cloudfill_plugin.core.plan.windows import default_overlap
    from smts_cloudfill_plugin.core.model.weights import read_weights_info
    t_start = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="smts_bench_")
    try:
        weights, weights_note = bench_weights(tmp)
        config = read_weights_info(weights)[0].config
        fpp = flops_per_pixel(config)
        window_px = config.window ** 2
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        print(f"machine: {platform.processor() or platform.machine()}, {cores} cores; torch "
              f"{torch.__version__} ({torch.get_num_threads()} threads), GDAL {gdal.__version__}")
        print(f"model: SMTS-ViT width {config.width}, depth {config.depth}, heads {config.heads}, "
              f"patch {config.patch}, window {config.window}; {weights_note}")
        tile_windows = windows_for(FULL_TILE, FULL_TILE)
        print(f"model FLOPs per pixel: {fpp / 1e3:.1f} kFLOP per window pixel "
              f"({fpp * window_px / 1e9:.2f} GFLOP a {config.window} px window); with the "
              f"{default_overlap(config.window, config.patch)} px overlap a full tile runs {tile_windows:,} windows = "
              f"{tile_windows * window_px / FULL_TILE ** 2:.2f} window px per raster px")

        bench = BenchStacks(tmp)
        stacks = {}
        for size in args.sizes:
            if size <= 4096:
                stacks[f"{size} x {size}"] = (bench.stack(size, size), "")
            else:
                rows = min(size, args.wide_rows)
                stacks[f"{size} x {rows} of {size}^2"] = (
                    bench.stack(size, rows, square=size),
                    f"  (first {rows} rows, full width)")
        print(f"bench stacks: the real sample (6 MSI + 6 SCL dates, 5 SAR) as 64 px tiles turned/"
              f"mirrored at random, in 512 px blocks mosaicked by VRTs, in {tmp} (removed at "
              f"the end)")

        cpu = device_runs("CPU", "cpu", stacks, weights,
                          tmp, fpp, window_px)
        print(f"{'raster':>24} {'interpolation px/s':>19} {'peak RSS':>9} {'time':>7}")
        interp = {}
        for name, (stack, note) in stacks.items():
            r = run_child("interp", stack, weights, "cpu", tmp)
            r["px_s"] = r["pixels"] / r["seconds"]
            interp[name] = r
            print(f"{name:>24} {r['px_s']:>19,.0f} {r['rss_mb']:>6.0f} MB "
                  f"{r['seconds']:>6.1f}s{note}")

        names = list(stacks)
        big = cpu["runs"][names[-1]]
        tile_s = big["seconds"] * tile_windows / big["windows"]
        print(f"\nfull tile ({FULL_TILE} x {FULL_TILE} px) on this CPU, projected from the "
              f"{names[-1]} run (time per window x {tile_windows:,} windows): "
              f"{tile_s / 60:.1f} min; temporal interpolation "
              f"{FULL_TILE ** 2 / interp[names[-1]]['px_s'] / 60:.1f} min")
        rss = [cpu["runs"][n]["rss_mb"] for n in names]
        grow = rss[-1] - rss[-2] if len(rss) > 1 else 0.0
        print(f"peak RSS {', '.join(f'{v:.0f}' for v in rss)} MB for {', '.join(names)}: "
              f"{'flat' if grow < 0.15 * rss[-2 if len(rss) > 1 else -1] else 'GROWING'} "
              f"({grow:+.0f} MB from the last but one to the largest; memory is bounded by the "
              f"strips of {FillSettings().strip_columns} columns and blocks of windows, so a raster "
              f"narrower than a strip needs less)")

        if torch.cuda.is_available():
            gpu = device_runs(f"CUDA: {torch.cuda.get_device_name(0)}", "cuda", stacks, weights,
                              tmp, fpp, window_px)
            g = gpu["runs"][names[-1]]
            print(f"full tile on this GPU, projected from the {names[-1]} run: "
                  f"{g['seconds'] * tile_windows / g['windows']:.1f} s (target: under 30 s)")
        else:
            print("\nCUDA: no GPU visible to torch; GPU figures skipped.")
        skip = skip_runs(bench, args.skip_size, weights, tmp) if args.skip_size else float("nan")
        parcels_s = parcel_series_run(bench) if args.parcels else float("nan")
        dask_ratio, dask_fill = dask_run(bench, weights, tmp) if args.dask else (float("nan"),) * 2
        if args.runtimes:
            import runtime_bench
            print("\nthe network's CPU runtimes (scripts/runtime_bench.py, steady state):")
            runtime_bench.measure(seconds=3.0, threads=torch.get_num_threads(), weights=weights)
        before, after = season_passes()
        print(f"(bench took {time.perf_counter() - t_start:.0f} s)")
        print(f"bench: roofline_ratio={big['ratio']:.2f} cpu_px_per_s={big['px_s']:.0f} "
              f"interp_px_per_s={interp[names[-1]]['px_s']:.0f} "
              f"rss_mb={','.join(f'{v:.0f}' for v in rss)} tile_min={tile_s / 60:.1f} "
              f"skip_ratio={skip:.2f} season_passes={before}->{after} "
              f"parcel_series_s={parcels_s:.1f} dask_ratio={dask_ratio:.2f} "
              f"dask_fill_ratio={dask_fill:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
