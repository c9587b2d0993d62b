"""The training report says where its metrics come from (issue 11, item 15)."""
from __future__ import annotations

from smts_cloudfill_plugin.core.training.report import training_report

HISTORY = [{"step": 0, "loss": 1.0, "val_mse": 0.1}, {"step": 10, "loss": 0.5, "val_mse": 0.05}]
METRICS = [{"clouds": 1, "method": "MTS-ViT", "mse": 0.01, "sam": 0.1, "psnr": 30.0, "ssim": 0.9}]


def page(windows: str) -> str:
    return training_report("t", {"windows": windows}, HISTORY, METRICS, [])


def test_nothing_held_out_is_said_and_never_called_held_out():
    text = page("12 training, 0 held out (latest in time)")
    assert "held-out" not in text.lower().replace("nothing was held out", "")
    assert "Training windows (nothing was held out)" in text
    assert "flatter" in text


def test_held_out_windows_are_called_so():
    text = page("10 training, 2 held out (latest in time)")
    assert "Held-out windows: model vs temporal interpolation" in text
    assert "nothing was held out" not in text
    assert "Held-out" in training_report("t", {}, HISTORY, METRICS, [], held_out=True)
    assert "Held-out" not in training_report("t", {}, HISTORY, METRICS, [], held_out=False)
