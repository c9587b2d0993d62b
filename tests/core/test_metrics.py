"""Metrics: MSE, SAM, PSNR and SSIM on reflectance, optionally over a pixel mask."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from smts_cloudfill_plugin.core.training.losses import multiscale_loss, mse_sam_loss
from smts_cloudfill_plugin.core.metrics import image_metrics, spectral_angle


def _image(seed=0, shape=(2, 10, 24, 24)):
    return np.random.default_rng(seed).random(shape) * 0.4 + 0.02


def test_identical_images():
    a = _image()
    m = image_metrics(a, a)
    assert m["mse"] == 0
    assert m["sam"] == pytest.approx(0, abs=1e-6)
    assert m["ssim"] == pytest.approx(1, abs=1e-9)
    assert m["psnr"] == math.inf
    assert m["pixels"] == 2 * 24 * 24


def test_known_offset_gives_known_mse_and_psnr():
    a = _image()
    m = image_metrics(a + 0.1, a)
    assert m["mse"] == pytest.approx(0.01, rel=1e-9)
    assert m["psnr"] == pytest.approx(20.0, rel=1e-9)
    assert m["sam"] > 0.01 and m["ssim"] < 1
    m2 = image_metrics(a - 0.05, a)
    assert m2["mse"] == pytest.approx(0.0025) and m2["psnr"] == pytest.approx(10 * math.log10(400))


def test_scaled_spectrum_has_zero_angle_but_an_error():
    a = _image()
    m = image_metrics(a * 1.5, a)
    assert m["sam"] == pytest.approx(0, abs=1e-6)
    assert m["mse"] > 0


def test_known_angle():
    p = torch.tensor([1.0, 0.0], dtype=torch.float64).view(2, 1, 1)
    t = torch.tensor([1.0, 1.0], dtype=torch.float64).view(2, 1, 1)
    assert float(spectral_angle(p, t)) == pytest.approx(math.pi / 4)
    assert float(spectral_angle(p, p)) == 0.0


def test_mask_restricts_the_average():
    a = _image(shape=(1, 4, 16, 16))
    pred = a.copy()
    mask = np.zeros((1, 16, 16), bool)
    mask[0, :8] = True
    pred[0, :, :8] += 0.2      # error only where the mask is set
    pred[0, :, 8:] += 0.02     # small error elsewhere
    inside, outside = image_metrics(pred, a, mask), image_metrics(pred, a, ~mask)
    everywhere = image_metrics(pred, a)
    assert inside["mse"] == pytest.approx(0.04) and inside["pixels"] == 128
    assert outside["mse"] == pytest.approx(0.0004)
    assert everywhere["mse"] == pytest.approx((0.04 + 0.0004) / 2)
    assert math.isnan(image_metrics(pred, a, np.zeros_like(mask))["mse"])
    # Torch tensors and (C, H, W) single images are accepted too.
    single = image_metrics(torch.from_numpy(pred[0]), torch.from_numpy(a[0]), mask)
    assert single["mse"] == pytest.approx(0.04)


def test_loss_counts_only_weighted_pixels_and_has_gradients():
    t = torch.from_numpy(_image(shape=(1, 2, 4, 8, 8)))  # float64: exact zero angle
    w = torch.zeros(1, 2, 8, 8, dtype=torch.float64)
    w[..., :4, :4] = 1
    pred = t.clone()
    pred[..., 4:, 4:] += 1.0                       # outside the weight: no loss
    assert float(multiscale_loss(pred, t, w)) == pytest.approx(0, abs=1e-6)
    pred = pred.clone().requires_grad_(True)
    bad = pred + torch.where(w.bool().unsqueeze(2), 0.1, 0.0)
    loss = multiscale_loss(bad, t, w)
    assert loss.item() > mse_sam_loss(bad, t, w).item() > 0
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
