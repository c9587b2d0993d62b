"""The network's CPU runtimes side by side (issue 21): eager fp32, torch.compile, bf16, ONNX Runtime.

Times the transformer part of the bundled SMTS-ViT (patch projection, encoder, decoder: what
the FLOPs are in) on a batch of windows of its own size, in steady state (compilation and the
first runs excluded), and the largest difference of each runtime's output from eager fp32
(standardised units). The prior and the blends around it run in torch whatever the runtime.

    python scripts/runtime_bench.py [--batch 8] [--seconds 6] [--threads 2]

ONNX Runtime parts run where ``onnxruntime`` (and, for the int8 model, ``onnx``) import. Note:
this project's QGIS Python has Debian's numpy 1.24; ``onnx`` pulls numpy 2 through ml_dtypes, so
these figures come from a throw-away virtual environment (see README, Performance), never from
the plugin's own packages.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path: str):
    """The bundled model without the plugin's GDAL-using weights module (this may run in a
    Python without GDAL)."""
    from smts_cloudfill_plugin.core.model.config import ModelConfig, Normalisation
    from smts_cloudfill_plugin.core.model.network import SmtsVit
    payload = torch.load(path, map_location="cpu", weights_only=True)
    meta = json.loads(payload["metadata"])
    model = SmtsVit(ModelConfig.from_dict(meta["architecture"]),
                    Normalisation.from_dict(meta["normalisation"]), initialise=False)
    model.load_state_dict(payload["state_dict"])
    return model.eval()


class Net(torch.nn.Module):
    """Encoded inputs (B, in_channels, S, S) -> the decoder's output (B, out, S, S)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self.p = model.config.patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2] // self.p, x.shape[-1] // self.p
        return self.model.forward_head(self.model.forward_features(x), h, w)


def rate(run, x, seconds: float) -> float:
    """Windows per second in steady state."""
    for _ in range(3):
        run(x)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run(x)
        n += 1
    return n * x.shape[0] / (time.perf_counter() - start)


def measure(batch: int = 8, seconds: float = 6.0, threads: int = 2,
            weights: str = os.path.join(ROOT, "model_weights", "smts_vit.pt")) -> dict:
    """Print and return each runtime's windows/s and largest difference from eager fp32."""
    args = argparse.Namespace(batch=batch, seconds=seconds, threads=threads, weights=weights)
    torch.set_num_threads(args.threads)
    model = load(args.weights)
    cfg = model.config
    pad = (-cfg.window) % cfg.patch
    size = cfg.window + pad
    net = Net(model).eval()
    x = torch.randn(args.batch, cfg.in_channels, size, size)
    with torch.inference_mode():
        ref = net(x)
    results = {}

    def report(name: str, windows_s: float, out: torch.Tensor | None) -> None:
        diff = float((out - ref).abs().max()) if out is not None else float("nan")
        results[name] = {"windows_per_s": windows_s, "max_abs_diff": diff}
        base = results.get("eager fp32", {}).get("windows_per_s", windows_s)
        print(f"{name:>28}: {windows_s:8.1f} windows/s  {windows_s / base:5.2f}x  "
              f"max |diff| {diff:.2e}", flush=True)

    with torch.inference_mode():
        report("eager fp32", rate(net, x, args.seconds), ref)
        try:
            compiled = torch.compile(net)
            out = compiled(x)
            report("torch.compile (inductor)", rate(compiled, x, args.seconds), out)
        except Exception as e:  # noqa: BLE001 (a missing compiler: say it, go on)
            print(f"    torch.compile: not available here ({type(e).__name__}: "
                  f"{str(e).splitlines()[0][:120]})")
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x).float()
            report("eager bf16 (autocast)", rate(net, x, args.seconds), out)
    try:
        import onnxruntime as ort
    except ImportError:
        print("    ONNX Runtime: not installed in this Python")
        ort = None
    if ort is not None:
        folder = tempfile.mkdtemp(prefix="smts_onnx_")
        path = os.path.join(folder, "net.onnx")
        torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        run = lambda _x: session.run(None, feed)  # noqa: E731
        report("ONNX Runtime fp32", rate(run, x, args.seconds),
               torch.from_numpy(session.run(None, feed)[0]))
        try:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            qpath = os.path.join(folder, "net_int8.onnx")
            quantize_dynamic(path, qpath, weight_type=QuantType.QInt8)
            qsession = ort.InferenceSession(qpath, options, providers=["CPUExecutionProvider"])
            run = lambda _x: qsession.run(None, feed)  # noqa: E731
            report("ONNX Runtime dynamic int8", rate(run, x, args.seconds),
                   torch.from_numpy(qsession.run(None, feed)[0]))
        except ImportError as e:
            print(f"    dynamic int8: needs the onnx package ({e})")
    return {"batch": args.batch, "window": cfg.window, "threads": args.threads,
            "results": results}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", default=os.path.join(ROOT, "model_weights", "smts_vit.pt"))
    args = ap.parse_args()
    print(json.dumps(measure(args.batch, args.seconds, args.threads, args.weights)))


if __name__ == "__main__":
    main()
