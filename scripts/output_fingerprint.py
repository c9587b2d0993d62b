"""Fingerprints of reconstruct's outputs, to prove a change leaves them bit-identical.

A refactor must not move a pixel. This script runs ``core.reconstruct`` of the checkout at
``--root`` (default: this one) on fixed cases - the shipped sample with the defaults, the sample
without SAR with the haze check and no self-check, and a 1024 px stack of the benchmark's
rasters - and writes, per output file, the SHA-256 of every band's pixels, the grid, CRS,
nodata, band names and metadata. ``--compare A.json B.json`` says what differs.

Before and after a change::

    git worktree add /tmp/before <commit>
    .venv/bin/python scripts/output_fingerprint.py --root /tmp/before --out /tmp/before.json
    .venv/bin/python scripts/output_fingerprint.py --out /tmp/after.json
    .venv/bin/python scripts/output_fingerprint.py --compare /tmp/before.json /tmp/after.json
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(HERE, "scripts"))

import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

gdal.UseExceptions()

BENCH_SIDE = 1024


def fingerprint(path: str) -> dict:
    """What a user could see of one output raster: pixels (hashed), grid, CRS, names, metadata."""
    ds = gdal.Open(path)
    bands = []
    for i in range(1, ds.RasterCount + 1):
        b = ds.GetRasterBand(i)
        a = b.ReadAsArray()
        bands.append({"sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
                      "dtype": str(a.dtype), "nodata": b.GetNoDataValue(),
                      "description": b.GetDescription(), "metadata": b.GetMetadata()})
    return {"size": [ds.RasterXSize, ds.RasterYSize], "geotransform": list(ds.GetGeoTransform()),
            "crs": ds.GetProjection(), "metadata": ds.GetMetadata(), "bands": bands}


def run_case(name: str, folder: str, **kwargs) -> dict:
    from smts_cloudfill_plugin.core.reconstruct import reconstruct
    out = os.path.join(folder, name)
    reconstruct(output_folder=out, **kwargs)
    prints = {}
    for p in sorted(glob.glob(os.path.join(out, "*"))):
        if p.endswith(".tif"):
            prints[os.path.basename(p)] = fingerprint(p)
        elif os.path.isfile(p):
            prints[os.path.basename(p)] = {"sha256": hashlib.sha256(
                open(p, "rb").read()).hexdigest()}
    return prints


def collect(root: str) -> dict:
    from bench import BenchStacks  # the benchmark's rasters, built by this checkout's bench.py
    sys.path.insert(0, root)
    sample = os.path.join(root, "resources", "sample")
    msi = sorted(glob.glob(os.path.join(sample, "msi", "*.tif")))
    scl = sorted(glob.glob(os.path.join(sample, "scl", "*.tif")))
    sar = sorted(glob.glob(os.path.join(sample, "sar", "*.tif")))
    with tempfile.TemporaryDirectory(prefix="fingerprint_") as tmp:
        cases = {
            "sample_default": run_case("sample_default", tmp, msi=msi, masks=scl, sar=sar),
            "sample_no_sar_haze": run_case("sample_no_sar_haze", tmp, msi=msi, masks=scl,
                                           self_check=False, haze_check=True),
        }
        stack = BenchStacks(os.path.join(tmp, "bench")).stack(BENCH_SIDE, BENCH_SIDE)
        cases["bench_1024"] = run_case("bench_1024", tmp, msi=stack["msi"], masks=stack["scl"],
                                       sar=stack["sar"])
    return cases


def compare(a: dict, b: dict) -> list[str]:
    """Every difference between two fingerprint files, as lines (empty: identical)."""
    diffs = []
    for case in sorted(set(a) | set(b)):
        fa, fb = a.get(case, {}), b.get(case, {})
        for name in sorted(set(fa) | set(fb)):
            if name not in fa or name not in fb:
                diffs.append(f"{case}/{name}: only in {'after' if name in fb else 'before'}")
            elif fa[name] != fb[name]:
                diffs.append(f"{case}/{name}: differs")
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=HERE, help="checkout whose engine runs (default: this one)")
    ap.add_argument("--out", help="JSON file for the fingerprints")
    ap.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = ap.parse_args()
    if args.compare:
        with open(args.compare[0]) as fa, open(args.compare[1]) as fb:
            diffs = compare(json.load(fa), json.load(fb))
        print("\n".join(diffs) or "identical: every output's pixels, grid, CRS, names, metadata")
        sys.exit(1 if diffs else 0)
    cases = collect(os.path.abspath(args.root))
    text = json.dumps(cases, indent=1, sort_keys=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    files = sum(len(v) for v in cases.values())
    print(f"{len(cases)} cases, {files} output files fingerprinted")


if __name__ == "__main__":
    main()
