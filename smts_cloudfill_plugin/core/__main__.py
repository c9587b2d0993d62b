"""Command line: ``python -m smts_cloudfill_plugin.core {reconstruct,info} ...``.

Prints a clear message and exits 2 for bad input; never a traceback for the user's mistakes.
Ctrl+C (exit 130) and SIGTERM (exit 143) stop a run like a cancel: nothing half written stays.
"""
from __future__ import annotations

import argparse
import json
import sys

from .errors import Cancelled, CloudFillError, Terminated


def _sort_by_date(msi: list[str], masks: list[str] | None) -> tuple[list[str], list[str] | None]:
    """Put MSI (and their masks) in date order when every file name carries a date."""
    from .read.dates import parse_date
    import os
    dates = [parse_date(os.path.basename(p)) for p in msi]
    if any(d is None for d in dates):
        return msi, masks
    order = sorted(range(len(msi)), key=lambda i: dates[i])
    if masks is not None and len(masks) != len(msi):
        return [msi[i] for i in order], masks  # the stack reader reports the count mismatch
    return [msi[i] for i in order], None if masks is None else [masks[i] for i in order]


def _reconstruct(args: argparse.Namespace) -> int:
    from .progress import PrintFeedback
    from .read.clouds import parse_scl_classes
    from .reconstruct import reconstruct
    msi, masks = _sort_by_date(args.msi, args.masks)
    classes = parse_scl_classes(args.scl_classes) if args.scl_classes else None
    kw = {"scl_classes": classes} if classes else {}
    if args.scheduler:
        from .fill.settings import FillSettings
        kw["fill"] = FillSettings(scheduler=args.scheduler)
    results = reconstruct(msi, args.out, masks=masks, sar=args.sar or None,
                          weights=args.weights, device=args.device,
                          batch_size=args.batch_size, self_check=not args.no_self_check,
                          feedback=PrintFeedback(quiet=args.quiet),
                          cloud_buffer=args.cloud_buffer, haze_check=args.haze_check,
                          haze_k=args.haze_k, **kw)
    for r in results:
        print(r.path)
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .batch import read_batch, run_batch
    from .progress import PrintFeedback
    jobs = read_batch(args.file)
    options = {"weights": args.weights, "device": args.device,
               "self_check": not args.no_self_check}
    outcomes = run_batch(jobs, options, args.scheduler, PrintFeedback(quiet=args.quiet))
    for o in outcomes:
        print(f"{'ok' if o.ok else 'FAILED'}\t{o.name}\t{o.message}")
    failed = sum(not o.ok for o in outcomes)
    if failed:
        print(f"{failed} of {len(outcomes)} stacks not filled.", file=sys.stderr)
    return 1 if failed else 0


def _info(args: argparse.Namespace) -> int:
    from .model.weights import read_weights_info
    info, _ = read_weights_info(args.weights)
    print(json.dumps(info.to_dict(), indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .model.device import DEVICES
    from .read.clouds import DEFAULT_CLOUD_BUFFER, DEFAULT_SCL_MISSING
    from .read.haze import DEFAULT_HAZE_CHECK, DEFAULT_HAZE_K
    from .plan.windows import WINDOWS_PER_CALL
    p = argparse.ArgumentParser(prog="python -m smts_cloudfill_plugin.core",
                                description="Fill clouds in Sentinel-2 time series with SMTS-ViT.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("reconstruct", help="fill every cloudy date of a stack")
    r.add_argument("--msi", nargs="+", required=True,
                   help="one multiband MSI raster per date (sorted by the date in the name)")
    r.add_argument("--masks", nargs="+", help="one cloud mask per MSI date (SCL or 0/1)")
    r.add_argument("--sar", nargs="+", help="SAR rasters (VV, VH), dates in the names")
    r.add_argument("--weights",
                   help="weights file (default: bundled SMTS-ViT, MTS-ViT without SAR)")
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--device", default=DEVICES[0], choices=DEVICES)
    r.add_argument("--batch-size", type=int, default=WINDOWS_PER_CALL,
                   help="windows per model call (default %(default)s)")
    r.add_argument("--scl-classes", help="SCL classes that count as cloudy (default "
                   f"{','.join(map(str, DEFAULT_SCL_MISSING))})")
    r.add_argument("--cloud-buffer", type=int, default=DEFAULT_CLOUD_BUFFER, metavar="PIXELS",
                   help="grow SCL clouds and shadows by this many pixels before filling (default "
                        "%(default)s, measured: SCL misses hazy cloud rims); 0/1 masks are "
                        "taken as they are")
    r.add_argument("--haze-check", action=argparse.BooleanOptionalAction,
                   default=DEFAULT_HAZE_CHECK,
                   help="add to the cloud mask the clear pixels far brighter (blue - 0.5 red) "
                        "than both their nearest clear dates before and after: haze the mask "
                        "misses (default %(default)s, measured: model_weights/HAZE.md)")
    r.add_argument("--haze-k", type=float, default=DEFAULT_HAZE_K, metavar="K",
                   help="haze check threshold, in multiples of the measured noise (default "
                        "%(default)s; lower flags more)")
    r.add_argument("--no-self-check", action="store_true",
                   help="fill with the model alone; by default each cloudy date is filled the "
                        "way that did best on held-back clear pixels of this stack (interpolation, "
                        "+/- the date's own residual, + a weight of the model; report: "
                        "cloudfill_check.html)")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="a dask.distributed scheduler (tcp://host:8786): the fill's blocks are "
                        "read and run as tasks on its workers, which must see the input and "
                        "weights paths; the outputs are written here, the same bits")
    r.add_argument("--quiet", action="store_true", help="print only the written paths")
    r.set_defaults(run=_reconstruct)
    b = sub.add_parser("batch", help="fill many stacks listed in a JSON file, here or on a "
                                     "Dask cluster")
    b.add_argument("file", help='JSON list of {"name", "msi": [...], "masks": [...], '
                                '"sar": [...], "out"} (paths relative to the file)')
    b.add_argument("--scheduler", metavar="ADDRESS",
                   help="a dask.distributed scheduler (tcp://host:8786): one task a stack on its "
                        "workers, which must see the input paths; default: here, in turn")
    b.add_argument("--weights", help="weights file (default: bundled)")
    b.add_argument("--device", default=DEVICES[0], choices=DEVICES)
    b.add_argument("--no-self-check", action="store_true", help="fill with the model alone")
    b.add_argument("--quiet", action="store_true", help="print only each stack's outcome")
    b.set_defaults(run=_batch)
    i = sub.add_parser("info", help="print a weights file's metadata")
    i.add_argument("weights")
    i.set_defaults(run=_info)
    return p


def main(argv: list[str] | None = None) -> int:
    from .progress import sigterm_as_cancel
    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_cancel():
            return args.run(args)
    except Terminated as e:
        print(f"Cancelled: {e}", file=sys.stderr)
        return 143
    except Cancelled as e:
        print(f"Cancelled: {e}", file=sys.stderr)
        return 130
    except CloudFillError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Cancelled: no output was written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
