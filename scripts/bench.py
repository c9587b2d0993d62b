"""`make bench`: how fast and how lean reconstruct is, from one run on this machine.

Printed:
- the model's FLOPs per pixel and the machine's measured dense fp32 matmul rate (torch, all
  cores), and reconstruct's achieved model FLOP rate as a ratio of it (the "roofline" ratio);
- pixels per second of reconstruct and of temporal interpolation on stacks of 512, 2048 and
  8192 px square made from the shipped real sample, with the peak resident memory of each run
  (each size runs in a fresh subprocess);
- the projected time for a full Sentinel-2 tile (10980 x 10980 px) on this CPU;
- on CUDA, when torch sees a GPU: the same figures there and a projected full-tile time.

The benchmark stacks cost no disk: GDAL VRTs mosaic the sample's 64 x 64 px files (MSI, SCL,
and SAR at 20 m), each 64 px tile in one of the 8 rotations/mirrorings of the sample (the same
for every date, mask and SAR, so clouds stay where the sample has them); 512 px blocks of these
tiles are mosaicked again into the big rasters. Everything lives in a temporary folder that is
removed at the end. A full 8192 px run would take longer than the benchmark's budget on a
small CPU, so the 8192 px figure comes from a band of rows of the full 8192 px width (memory
depends on the width, not on the height; the output says how many rows).

The last line sums the run up, so that runs can be compared:
    bench: roofline_ratio=R cpu_px_per_s=P interp_px_per_s=I rss_mb=A,B,C tile_min=T
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
BAND_ROWS = 260      # rows of the 8192 px wide band that is run (6 window-rows of 60 px)


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
    """Sample-based VRT stacks of any size in ``folder`` (see the module docstring)."""

    def __init__(self, folder: str, seed: int = 7) -> None:
        self.folder = folder
        self.rng = np.random.default_rng(seed)
        self.files = {k: _sample_files(k) for k in ("msi", "scl", "sar")}
        assert [len(v) for v in self.files.values()] == [6, 6, 5], "the sample stack is incomplete"
        ref = gdal.Open(self.files["msi"][0])
        self.wkt, self.gt = ref.GetProjection(), ref.GetGeoTransform()
        self._variants()
        self._blocks()

    def _variants(self) -> None:
        """The 8 rotations/mirrorings of every sample file, uncompressed (tiny)."""
        self.info = {}
        for kind, paths in self.files.items():
            for p in paths:
                ds = gdal.Open(p)
                a = ds.ReadAsArray()
                a = a if a.ndim == 3 else a[None]
                stem = os.path.splitext(os.path.basename(p))[0]
                self.info[p] = ([_band_xml(ds, i) for i in range(ds.RasterCount)],
                                ds.GetMetadata() or {}, ds.GetRasterBand(1).DataType, a.shape[-1])
                for k in range(8):
                    v = _dihedral(a, k)
                    dst = os.path.join(self.folder, "variants", kind, f"{stem}_v{k}.tif")
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    out = gdal.GetDriverByName("GTiff").Create(dst, v.shape[2], v.shape[1],
                                                               v.shape[0], ds.GetRasterBand(1).DataType)
                    for i in range(v.shape[0]):
                        out.GetRasterBand(i + 1).WriteArray(v[i])
                    out = None

    def _variant(self, kind: str, path: str, k: int) -> str:
        stem = os.path.splitext(os.path.basename(path))[0]
        return os.path.join(self.folder, "variants", kind, f"{stem}_v{k}.tif")

    def _gt(self, pixel: float) -> tuple[float, ...]:
        return (self.gt[0], pixel, 0.0, self.gt[3], 0.0, -pixel)

    def _blocks(self) -> None:
        """BLOCK_VARIANTS first-level mosaics of 8 x 8 randomly turned sample tiles."""
        n = BLOCK // TILE
        self.blocks = []
        for b in range(BLOCK_VARIANTS):
            turns = self.rng.integers(0, 8, size=(n, n))
            block = {}
            for kind, paths in self.files.items():
                block[kind] = []
                for p in paths:
                    bands, md, _, side = self.info[p]
                    scale = side / TILE       # SAR: 32 px tiles at 20 m
                    bs = int(BLOCK * scale)
                    srcs = [(self._variant(kind, p, int(turns[j, i])), 0, 0, side, side,
                             i * side, j * side) for j in range(n) for i in range(n)]
                    dst = os.path.join(self.folder, "blocks", f"{b}", os.path.basename(p)[:-4] + ".vrt")
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    _write_vrt(dst, bs, bs, self._gt(10.0 / scale), self.wkt, bands, md, srcs)
                    block[kind].append(dst)
            self.blocks.append(block)

    def stack(self, width: int, height: int) -> dict[str, list[str]]:
        """MSI, SCL and SAR VRTs of ``width`` x ``height`` px (10 m) from random blocks."""
        folder = os.path.join(self.folder, f"stack_{width}x{height}")
        nx, ny = -(-width // BLOCK), -(-height // BLOCK)
        pick = self.rng.integers(0, BLOCK_VARIANTS, size=(ny, nx))
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
                        srcs.append((self.blocks[int(pick[j, i])][kind][t], 0, 0, sw, sh,
                                     i * bs, j * bs))
                name = os.path.basename(p)[:-4].replace("0000280849BAC91C", "bench") + ".vrt"
                dst = os.path.join(folder, kind, name)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                _write_vrt(dst, w, h, self._gt(10.0 / scale), self.wkt, bands, md, srcs)
                out[kind].append(dst)
        return out
