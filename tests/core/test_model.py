"""SMTS-ViT and its two ablations: shapes, any input size, SAR handling, configuration."""
from __future__ import annotations

import pytest
import torch

from smts_cloudfill_plugin.core.model import config
from smts_cloudfill_plugin.core.model.config import ModelConfig, Normalisation
from smts_cloudfill_plugin.core.model.network import SmtsVit

SMALL = {"width": 32, "depth": 2, "heads": 4, "pos_grid": 4, "window": 20}


def _inputs(cfg: ModelConfig, h: int, w: int, batch: int = 2, sar: bool = True):
    g = torch.Generator().manual_seed(0)
    msi = torch.rand(batch, cfg.msi_dates, len(cfg.msi_bands), h, w, generator=g) * 0.4
    missing = torch.rand(batch, cfg.msi_dates, h, w, generator=g) < 0.3
    s = None
    if sar:
        s = torch.randn(batch, max(cfg.sar_dates, 1), len(config.S1_BANDS), h, w, generator=g) - 12
    return msi, missing, s


@pytest.mark.parametrize("factory, variant, dates, sar_dates", [
    (config.smts_vit, "SMTS-ViT", 6, 5),
    (config.mts_vit, "MTS-ViT", 6, 0),
    (config.s_vit, "S-ViT", 1, 1),
])
@pytest.mark.parametrize("size", [(20, 20), (37, 23), (7, 3)])
def test_output_has_the_input_shape(factory, variant, dates, sar_dates, size):
    cfg = factory(**SMALL)
    assert cfg.variant == variant
    assert (cfg.msi_dates, cfg.sar_dates) == (dates, sar_dates)
    torch.manual_seed(0)
    model = SmtsVit(cfg).eval()
    h, w = size
    msi, missing, sar = _inputs(cfg, h, w, sar=cfg.uses_sar)
    with torch.no_grad():
        out = model(msi, missing, sar)
    assert out.shape == (2, dates, 10, h, w)
    assert torch.isfinite(out).all()
    # The output depends on the input (not a constant), and on the clear values only.
    with torch.no_grad():
        changed = model(msi.masked_fill(missing.unsqueeze(2), 5.0), missing, sar)
        other = model(msi + 0.2, missing, sar)
    torch.testing.assert_close(changed, out)
    assert not torch.allclose(other, out)


def test_in_and_out_channels_follow_the_variant():
    smts, mts, s = config.smts_vit(), config.mts_vit(), config.s_vit()
    assert smts.in_channels == 6 * 10 + 6 + 5 * 2
    assert mts.in_channels == 6 * 10 + 6
    assert s.in_channels == 10 + 1 + 2
    assert smts.out_channels == mts.out_channels == 60 and s.out_channels == 10
    assert not config.smts_vit(mask_channels=False, **SMALL).in_channels == smts.in_channels


def test_mts_vit_runs_without_sar_and_ignores_it():
    cfg = config.mts_vit(**SMALL)
    assert not cfg.uses_sar
    torch.manual_seed(0)
    model = SmtsVit(cfg).eval()
    msi, missing, sar = _inputs(cfg, 25, 30, sar=True)
    with torch.no_grad():
        a = model(msi, missing)
        b = model(msi, missing, sar)
    assert a.shape == (2, 6, 10, 25, 30)
    torch.testing.assert_close(a, b)


def test_smts_vit_raises_without_sar():
    cfg = config.smts_vit(**SMALL)
    model = SmtsVit(cfg)
    msi, missing, _ = _inputs(cfg, 20, 20, sar=False)
    with pytest.raises(ValueError, match="SAR"):
        model(msi, missing, None)


def test_sar_changes_the_smts_vit_output():
    cfg = config.smts_vit(**SMALL)
    torch.manual_seed(1)
    model = SmtsVit(cfg).eval()
    msi, missing, sar = _inputs(cfg, 20, 20)
    with torch.no_grad():
        assert not torch.allclose(model(msi, missing, sar), model(msi, missing, sar + 3.0))


def test_sar_as_change_ignores_each_pixels_level():
    # "change": a pixel's backscatter shifted on every date alike (another orbit's incidence
    # angle) gives the same fill; a change on one date does not. A date without SAR (NaN) is
    # left out of the pixel's mean.
    cfg = config.smts_vit(sar_input="change", **SMALL)
    torch.manual_seed(1)
    model = SmtsVit(cfg).eval()
    msi, missing, sar = _inputs(cfg, 20, 20)
    level = torch.randn(1, 1, 2, 20, 20) * 3
    one_date = torch.zeros_like(sar)
    one_date[:, 2] = 3.0
    gap = sar.clone()
    gap[:, 1, :, :5] = float("nan")
    with torch.no_grad():
        base = model(msi, missing, sar)
        torch.testing.assert_close(model(msi, missing, sar + level), base, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(model(msi, missing, sar + one_date), base)
        assert torch.isfinite(model(msi, missing, gap)).all()
    with pytest.raises(ValueError, match="sar_input"):
        config.smts_vit(sar_input="linear")


def test_normalisation_is_undone_on_the_output():
    cfg = config.mts_vit(**SMALL)
    norm = Normalisation(tuple(0.1 * (i + 1) for i in range(10)), (0.01,) * 10)
    torch.manual_seed(0)
    model = SmtsVit(cfg, norm).eval()
    # A zero head gives exactly the de-standardised zero: the per-band means.
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    msi, missing, _ = _inputs(cfg, 15, 10, sar=False)
    with torch.no_grad():
        out = model(msi, missing)
    expected = torch.tensor(norm.msi_mean).view(1, 1, -1, 1, 1).expand_as(out)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("factory", [config.smts_vit, config.mts_vit, config.s_vit])
def test_config_round_trips_through_dict(factory):
    cfg = factory(width=48, depth=3, heads=6, patch=5, window=30, pos_grid=6,
                  msi_bands=("B02", "B03", "B04", "B08"), mask_channels=False)
    d = cfg.to_dict()
    assert isinstance(d["msi_bands"], list)
    back = ModelConfig.from_dict(d)
    assert back == cfg
    assert back.variant == cfg.variant and back.in_channels == cfg.in_channels
    # Unknown keys (from a newer file) are ignored; a changed value is kept.
    assert ModelConfig.from_dict({**d, "future_key": 1}) == cfg
    assert cfg.replace(depth=4).depth == 4 and cfg.replace(depth=4) != cfg


def test_config_rejects_inconsistent_sizes():
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(width=30, heads=4)
    with pytest.raises(ValueError, match="patch"):
        ModelConfig(window=22, patch=5)


def test_normalisation_round_trips_through_dict():
    n = Normalisation((0.1, 0.2), (0.3, 0.4), (-10.0,), (3.0,))
    assert Normalisation.from_dict(n.to_dict()) == n
    ident = Normalisation.identity(config.mts_vit())
    assert ident.msi_mean == (0.0,) * 10 and ident.sar_mean == ()
