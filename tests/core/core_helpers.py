"""Helpers for the engine tests: tiny GeoTIFFs from numpy arrays, the shipped sample.

Nothing here needs QGIS. Rasters are written with GDAL into pytest's ``tmp_path``; the sample
stack (resources/sample) is only read, never modified: tests that need a damaged variant build
it from the sample's arrays.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pytest
import torch
from osgeo import gdal, osr

from smts_cloudfill_plugin.core.progress import Feedback

gdal.UseExceptions()

# The models here are tiny: one thread is fastest, and with other jobs on the machine several
# OpenMP threads spin against each other and make each step a hundred times slower.
torch.set_num_threads(1)
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = REPO_ROOT / "resources" / "sample"

#: The sample's grid: 64 x 64 px at 10 m, UTM 31N.
SAMPLE_GT = (574680.0, 10.0, 0.0, 5622440.0, 0.0, -10.0)


def make_raster(path, array: np.ndarray, geotransform: Sequence[float] = SAMPLE_GT,
                epsg: int | None = 32631, nodata: float | None = None,
                descriptions: Sequence[str] | None = None, dtype=None,
                scale: float | Sequence[float] | None = None,
                offset: float | Sequence[float] | None = None,
                metadata: dict[str, str] | None = None) -> str:
    """Write ``array`` ((bands, h, w) or (h, w)) as a GeoTIFF; return the path as a string."""
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[None]
    dtype = np.dtype(dtype or a.dtype)
    name = {"uint8": "Byte", "bool": "Byte"}.get(dtype.name, dtype.name)
    gdal_type = gdal.GetDataTypeByName(name)
    assert gdal_type != gdal.GDT_Unknown, f"no GDAL type for {dtype}"
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ds = gdal.GetDriverByName("GTiff").Create(path, a.shape[2], a.shape[1], a.shape[0], gdal_type)
    ds.SetGeoTransform(tuple(geotransform))
    if epsg is not None:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
        ds.SetProjection(srs.ExportToWkt())
    if metadata:
        ds.SetMetadata(dict(metadata))
    for i in range(a.shape[0]):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(a[i].astype(dtype if dtype.name != "bool" else np.uint8))
        if nodata is not None:
            band.SetNoDataValue(float(nodata))
        if descriptions:
            band.SetDescription(descriptions[i])
        if scale is not None:
            band.SetScale(float(scale[i] if isinstance(scale, (list, tuple)) else scale))
        if offset is not None:
            band.SetOffset(float(offset[i] if isinstance(offset, (list, tuple)) else offset))
    ds.FlushCache()
    ds = None
    return path


def read_raster(path) -> np.ndarray:
    """All bands as (bands, h, w)."""
    ds = gdal.Open(str(path))
    a = ds.ReadAsArray()
    return a if a.ndim == 3 else a[None]


def raster_info(path, role: str = "input"):
    """What a raster file says of itself (to write another like it), its dataset closed again."""
    from smts_cloudfill_plugin.core.read.raster import RasterSource
    source = RasterSource.open(str(path), role)
    source.close()
    return source


def sample_paths(kind: str) -> list[str]:
    """The sample's files of one kind ('msi', 'scl' or 'sar'), in date order."""
    return sorted(glob.glob(str(SAMPLE / kind / "*.tif")))


def copy_raster(src: str, dst, **translate) -> str:
    """A GeoTIFF copy of ``src`` (optionally cropped etc. through gdal.Translate options)."""
    dst = str(dst)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    gdal.Translate(dst, src, format="GTiff", **translate)
    return dst


def truncate_copy(src, dst, fraction: float) -> str:
    """The first ``fraction`` of the bytes of ``src`` (a cut-off copy or download)."""
    data = open(src, "rb").read()
    with open(dst, "wb") as f:
        f.write(data[:int(len(data) * fraction)])
    return str(dst)


def damage_block(src, dst, block: tuple[int, int] = (0, 5)) -> str:
    """A copy of the GeoTIFF ``src`` with the bytes of one compressed block overwritten: the
    file is complete and opens, but reading that block fails."""
    ds = gdal.Open(str(src))
    band = ds.GetRasterBand(1)
    offset = int(band.GetMetadataItem(f"BLOCK_OFFSET_{block[0]}_{block[1]}", "TIFF"))
    size = int(band.GetMetadataItem(f"BLOCK_SIZE_{block[0]}_{block[1]}", "TIFF"))
    band = ds = None
    data = bytearray(open(src, "rb").read())
    data[offset:offset + size] = np.random.default_rng(0).bytes(size)
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return str(dst)


def list_files(folder) -> list[str]:
    """Every file name under ``folder`` (hidden ones included), relative, sorted."""
    out = []
    for root, _, files in os.walk(str(folder)):
        out += [os.path.relpath(os.path.join(root, f), str(folder)) for f in files]
    return sorted(out)


@pytest.fixture
def sample():
    """The shipped sample's paths: dict with 'msi', 'scl' and 'sar' lists in date order."""
    paths = {k: sample_paths(k) for k in ("msi", "scl", "sar")}
    assert [len(paths[k]) for k in ("msi", "scl", "sar")] == [6, 6, 5], "sample stack is incomplete"
    return paths


def start_cli(*args: str) -> subprocess.Popen:
    """Start ``python -m smts_cloudfill_plugin.core ARGS``; collect it with ``communicate()``."""
    return subprocess.Popen([sys.executable, "-m", "smts_cloudfill_plugin.core", *args],
                            cwd=str(REPO_ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=SUBPROCESS_ENV)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m smts_cloudfill_plugin.core ARGS`` in a subprocess, from the repository root."""
    return subprocess.run([sys.executable, "-m", "smts_cloudfill_plugin.core", *args],
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=timeout,
                          env=SUBPROCESS_ENV)


def readline_within(child: subprocess.Popen, stream, timeout: float) -> str:
    """The next line from one of ``child``'s pipes ('' at its end). A child that says nothing
    for ``timeout`` seconds is killed and the test fails: a hung child must not hang the suite."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        child.kill()
        child.wait(30)
        pytest.fail(f"the child process said nothing for {timeout:g} s; killed")
    return line[0]


class CallbackFeedback(Feedback):
    """Feedback built from plain callables: the tests' view of progress, messages and cancel."""

    def __init__(self, on_progress: Callable[[float], None] | None = None,
                 cancelled: Callable[[], bool] | None = None,
                 on_message: Callable[[str], None] | None = None) -> None:
        self._on_progress = on_progress
        self._cancelled = cancelled
        self._on_message = on_message

    def progress(self, fraction: float, message: str | None = None) -> None:
        if self._on_progress:
            self._on_progress(fraction)

    def info(self, message: str) -> None:
        if self._on_message:
            self._on_message(message)

    def warn(self, message: str) -> None:
        if self._on_message:
            self._on_message("WARNING: " + message)

    def is_cancelled(self) -> bool:
        return bool(self._cancelled and self._cancelled())
