"""`make demo`: fill clouds in the shipped real sample and show before/after.

The sample (resources/sample, Flanders, spring 2019, held out from training) has one really
cloudy date (2019-04-26, no truth under its clouds) and clear dates. To score the fill, the
clear date 2019-04-21 is hidden under the real cloud shapes of 2019-04-26 (the same pixels),
then the bundled SMTS-ViT fills every cloudy date through the command line. Printed: the masked
metrics of SMTS-ViT and of temporal interpolation on the hidden pixels. Written: the filled
GeoTIFFs, their filled-pixel masks and ``before_after.png``.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from osgeo import gdal  # noqa: E402

from smts_cloudfill_plugin.core.training.baseline import interpolate_temporal  # noqa: E402
from smts_cloudfill_plugin.core.model.config import S2_BANDS  # noqa: E402
from smts_cloudfill_plugin.core.read.dates import day_numbers  # noqa: E402
from smts_cloudfill_plugin.core.metrics import image_metrics  # noqa: E402
from smts_cloudfill_plugin.core.read.stack import Stack  # noqa: E402

gdal.UseExceptions()
SAMPLE = os.path.join(ROOT, "resources", "sample")
HIDDEN_DATE, DONOR_DATE = "20190421", "20190426"


def write_mask(path: str, like: str, mask: np.ndarray) -> None:
    src = gdal.Open(like)
    ds = gdal.GetDriverByName("GTiff").Create(path, src.RasterXSize, src.RasterYSize, 1, gdal.GDT_Byte)
    ds.SetGeoTransform(src.GetGeoTransform())
    ds.SetProjection(src.GetProjection())
    ds.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
    ds.GetRasterBand(1).SetDescription("cloud (0/1)")
    ds = None


def true_colour(refl: np.ndarray) -> np.ndarray:
    """(C, H, W) reflectance in S2_BANDS order -> (H, W, 3) display RGB (B04, B03, B02)."""
    rgb = np.stack([refl[S2_BANDS.index(b)] for b in ("B04", "B03", "B02")], -1)
    return np.clip(rgb / 0.18, 0, 1) ** (1 / 1.4)


def picture(path: str, rows: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(rows), 3, figsize=(9.6, 3.5 * len(rows)), squeeze=False)
    for r, (title, cloudy, mask, filled, truth) in enumerate(rows):
        shown = true_colour(cloudy)
        shown[mask] = np.array([0.93, 0.93, 0.96])
        panels = [("cloudy input", shown), ("filled (SMTS-ViT)", true_colour(filled)),
                  ("truth (clear date)", None if truth is None else true_colour(truth))]
        for c, (name, img) in enumerate(panels):
            ax = axes[r][c]
            ax.set_xticks([]), ax.set_yticks([])
            if img is None:
                ax.set_facecolor("0.85")
                ax.text(0.5, 0.5, "truth unknown\n(really cloudy)", ha="center", va="center",
                        transform=ax.transAxes)
            else:
                ax.imshow(img, interpolation="nearest")
                ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
            ax.set_title(name, fontsize=9)
            if c == 0:
                ax.set_ylabel(title, fontsize=9)
    fig.suptitle("SMTS CloudFill demo: filled pixels outlined in yellow\n"
                 "Contains modified Copernicus Sentinel data 2019", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default=os.path.join(ROOT, "out", "demo"))
    p.add_argument("--weights", default=None, help="weights (default: the bundled SMTS-ViT)")
    p.add_argument("--haze-check", action=argparse.BooleanOptionalAction, default=None,
                   help="add the temporal haze check's pixels to the masks (default: the "
                        "command line's)")
    args = p.parse_args()
    t0 = time.monotonic()
    msi = sorted(glob.glob(os.path.join(SAMPLE, "msi", "*.tif")))
    scl = sorted(glob.glob(os.path.join(SAMPLE, "scl", "*.tif")))
    sar = sorted(glob.glob(os.path.join(SAMPLE, "sar", "*.tif")))
    hidden_i = next(i for i, f in enumerate(msi) if HIDDEN_DATE in f)
    donor_i = next(i for i, f in enumerate(msi) if DONOR_DATE in f)
    os.makedirs(args.out, exist_ok=True)
    for old in glob.glob(os.path.join(args.out, "*_filled*.tif")):
        os.remove(old)

    with Stack(msi, scl, sar, bands=S2_BANDS) as stack:
        full = stack.read(0, 0, stack.width, stack.height)
        days = day_numbers(stack.dates)
    donor_mask = full.missing[donor_i]
    masks = list(scl)
    # Named for the date it masks (its first date): a mask naming another date is refused.
    masks[hidden_i] = os.path.join(args.out, f"clouds_on_{HIDDEN_DATE}_from_{DONOR_DATE}.tif")
    write_mask(masks[hidden_i], scl[hidden_i], donor_mask)

    cmd = [sys.executable, "-m", "smts_cloudfill_plugin.core", "reconstruct", "--msi", *msi,
           "--masks", *masks, "--sar", *sar, "--out", args.out, "--device", "cpu"]
    if args.weights:
        cmd += ["--weights", args.weights]
    if args.haze_check is not None:
        cmd += ["--haze-check" if args.haze_check else "--no-haze-check"]
    print("$ python -m smts_cloudfill_plugin.core reconstruct --msi <6 MSI> --masks <6 masks> "
          f"--sar <5 SAR> --out {os.path.relpath(args.out, ROOT)}", flush=True)
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode:
        return done.returncode

    # Score the hidden clear date: model output vs interpolation, on the hidden pixels only.
    missing = full.missing.copy()
    missing[hidden_i] = donor_mask
    truth = full.msi[hidden_i]
    with Stack([os.path.join(args.out, os.path.basename(msi[hidden_i])[:-4] + "_filled.tif")],
               bands=S2_BANDS) as filled_stack:
        model_fill = filled_stack.read(0, 0, filled_stack.width, filled_stack.height).msi[0]
    stack_for_interp = full.msi.copy()
    interp = interpolate_temporal(stack_for_interp, missing, np.array(days))[hidden_i]
    m_model = image_metrics(model_fill[None], truth[None], donor_mask[None])
    m_interp = image_metrics(interp[None], truth[None], donor_mask[None])
    print(f"\n{HIDDEN_DATE} hidden under the real clouds of {DONOR_DATE} "
          f"({int(donor_mask.sum())} pixels, {100 * donor_mask.mean():.1f} %):")
    print(f"{'method':<24}{'MSE':>10}{'SAM':>9}{'PSNR':>8}{'SSIM':>8}")
    for name, m in (("temporal interpolation", m_interp), ("SMTS-ViT (bundled)", m_model)):
        print(f"{name:<24}{m['mse']:>10.5f}{m['sam']:>9.4f}{m['psnr']:>8.2f}{m['ssim']:>8.4f}")
    print(f"SMTS-ViT vs interpolation: MSE {100 * (m_model['mse'] / m_interp['mse'] - 1):+.0f} %, "
          f"SAM {100 * (m_model['sam'] / m_interp['sam'] - 1):+.0f} %")

    donor_out = os.path.join(args.out, os.path.basename(msi[donor_i])[:-4] + "_filled.tif")
    with Stack([donor_out], bands=S2_BANDS) as s:
        donor_fill = s.read(0, 0, s.width, s.height).msi[0]
    png = os.path.join(args.out, "before_after.png")
    picture(png, [
        (f"{HIDDEN_DATE[:4]}-{HIDDEN_DATE[4:6]}-{HIDDEN_DATE[6:]} under the clouds of "
         f"{DONOR_DATE[4:6]}-{DONOR_DATE[6:]}", full.msi[hidden_i], donor_mask, model_fill, truth),
        (f"{DONOR_DATE[:4]}-{DONOR_DATE[4:6]}-{DONOR_DATE[6:]} (real clouds)",
         full.msi[donor_i], full.missing[donor_i], donor_fill, None),
    ])
    print(f"\nWrote {os.path.relpath(png, ROOT)} and the filled rasters in "
          f"{os.path.relpath(args.out, ROOT)}/ ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
