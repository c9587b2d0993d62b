"""The bundled weights: they load, fit the shipped sample, and reproduce the model card's figure."""
from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pytest
import torch

from smts_cloudfill_plugin.core.evaluate import score_stack
from smts_cloudfill_plugin.core.weights import bundled_weights_path, load_model

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"
CARD = ROOT / "model_weights" / "MODEL_CARD.md"


def stack():
    return tuple(sorted(glob.glob(str(SAMPLE / sub / "*.tif"))) for sub in ("msi", "scl", "sar"))


@pytest.mark.parametrize("uses_sar,variant", [(True, "SMTS-ViT"), (False, "MTS-ViT")])
def test_bundled_weights_load_with_their_metadata(uses_sar, variant):
    path = bundled_weights_path(uses_sar)
    model, info = load_model(path)
    assert info.config.variant == variant
    assert info.config.msi_bands == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
    assert "training_data" in info.extra and info.extra["training"]["steps"] > 0
    sidecar = json.loads(Path(os.path.splitext(path)[0] + ".json").read_text())
    assert sidecar["architecture"] == info.config.to_dict()


def test_bundled_model_reproduces_the_model_card_on_the_sample():
    """The card prints the sample-window figures; recompute them from the shipped files."""
    import sys
    sys.path.insert(0, str(ROOT / "scripts"))
    from bundled_models import SAMPLE_CLOUDS, SAMPLE_SEED, sample_rows
    model, _ = load_model(bundled_weights_path(True))
    scores = score_stack(model, *stack(), SAMPLE_CLOUDS, SAMPLE_SEED)
    rows = sample_rows({k: vars(v) for k, v in scores.items()})
    card = CARD.read_text()
    for line in rows.splitlines()[2:]:
        assert line in card, f"model card lacks or differs on: {line}"
    smts, interp = scores["SMTS-ViT"], scores["interpolation"]
    assert smts.pixels == interp.pixels > 1000


def test_bundled_files_fit_the_size_budget():
    total = sum(os.path.getsize(p) for p in glob.glob(str(ROOT / "model_weights" / "*.pt")))
    assert total < 20 * 10 ** 6
