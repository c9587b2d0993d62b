"""Small random-init SMTS-ViT models for the tests that need weights but not a trained model.

One recipe for the engine and the QGIS tests (the ``small_weights`` fixture in conftest.py):
the sample's band statistics as normalisation, so that even a random model gives varied output.
"""
from __future__ import annotations

import numpy as np
from osgeo import gdal

from sample_stack import MSI, SAR


def sample_normalisation():
    """Per-band statistics of the sample's clear pixels (so a random model gives varied output)."""
    from smts_cloudfill_plugin.core.model.config import Normalisation
    msi = np.stack([gdal.Open(p).ReadAsArray() for p in MSI]).astype(np.float64) * 1e-4
    sar = np.stack([gdal.Open(p).ReadAsArray() for p in SAR]).astype(np.float64)
    return Normalisation(tuple(msi.mean((0, 2, 3))), tuple(msi.std((0, 2, 3))),
                         tuple(np.nanmean(sar, (0, 2, 3))), tuple(np.nanstd(sar, (0, 2, 3))))


def small_config(**kw):
    """A tiny SMTS-ViT: width 32, depth 2, 4 heads, window 20."""
    from smts_cloudfill_plugin.core.model import config
    return config.smts_vit(**{"width": 32, "depth": 2, "heads": 4, "window": 20, "pos_grid": 4,
                              **kw})


def save_small_model(path, seed: int = 0, **kw) -> str:
    """Save a random-init small model with the sample's normalisation; return the path."""
    import torch
    from smts_cloudfill_plugin.core.model.network import SmtsVit
    from smts_cloudfill_plugin.core.model.weights import save_weights
    torch.manual_seed(seed)
    cfg = small_config(**kw)
    norm = sample_normalisation()
    if len(cfg.msi_bands) != len(norm.msi_mean):   # other bands than the sample's: any values
        n = len(cfg.msi_bands)
        norm = type(norm)((0.1,) * n, (0.05,) * n, norm.sar_mean, norm.sar_std)
    if not cfg.uses_sar:
        norm = type(norm)(norm.msi_mean, norm.msi_std)
    save_weights(str(path), SmtsVit(cfg, norm))
    return str(path)
