"""A small SMTS-ViT can learn a tiny real patch: the model, the loss and the data agree."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from smts_cloudfill_plugin.core.model import config
from smts_cloudfill_plugin.core.synthetic_clouds import synthetic_cloud_masks
from smts_cloudfill_plugin.core.model.config import Normalisation
from smts_cloudfill_plugin.core.training.losses import multiscale_loss
from smts_cloudfill_plugin.core.model.network import SmtsVit
from smts_cloudfill_plugin.core.read.stack import Stack

STEPS = 300


@pytest.mark.slow
def test_small_model_overfits_a_real_20x20_patch(sample):
    with Stack(sample["msi"], None, sample["sar"], bands=config.S2_BANDS) as stack:
        win = stack.read(30, 12, 20, 20, sar_indices=list(range(5)))
    assert win.msi.shape == (6, 10, 20, 20) and win.sar.shape == (5, 2, 20, 20)
    assert not win.missing.any(), "no SCL given: the sample has no no-data pixels"
    target = torch.from_numpy(win.msi)[None]
    hidden = torch.from_numpy(synthetic_cloud_masks(6, 20, 20, cloud_count=3, seed=7))[None]
    assert 0.05 < hidden.float().mean() < 0.6
    sar = torch.from_numpy(win.sar)[None]
    visible = target.masked_fill(hidden.unsqueeze(2), 0.0)

    m, s = target.mean((0, 1, 3, 4)), target.std((0, 1, 3, 4))
    sm, ss = sar.mean((0, 1, 3, 4)), sar.std((0, 1, 3, 4))
    norm = Normalisation(tuple(m.tolist()), tuple(s.tolist()),
                         tuple(sm.tolist()), tuple(ss.tolist()))
    cfg = config.smts_vit(width=64, depth=2, heads=4, window=20, pos_grid=4)
    torch.manual_seed(0)
    model = SmtsVit(cfg, norm)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    weight = hidden.float()
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = multiscale_loss(model(visible, hidden, sar), target, weight)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    assert losses[-1] <= losses[0] / 10, f"loss {losses[0]:.4f} -> {losses[-1]:.4f}"
    # On the hidden pixels the model now beats, by far, a fill with each band's mean.
    with torch.no_grad():
        pred = model(visible, hidden, sar)
    err = float((pred - target).abs().mean(2)[hidden].mean())
    mean_fill = float((m.view(1, 1, -1, 1, 1) - target).abs().mean(2)[hidden].mean())
    assert err < 0.5 * mean_fill, (err, mean_fill)
