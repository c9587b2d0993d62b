"""The bundled weights: they load, fit the shipped sample, and reproduce the model card's figure."""
from __future__ import annotations

import glob
import json
import os
import sys
from pathlib import Path

import pytest
import torch

from smts_cloudfill_plugin.core.model.weights import bundled_weights_path, load_model

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "resources" / "sample"
CARD = ROOT / "model_weights" / "MODEL_CARD.md"


@pytest.mark.parametrize("uses_sar,variant", [(True, "SMTS-ViT"), (False, "MTS-ViT")])
def test_bundled_weights_load_with_their_metadata(uses_sar, variant):
    path = bundled_weights_path(uses_sar)
    model, info = load_model(path)
    assert info.config.variant == variant
    assert info.config.msi_bands == ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
    assert "training_data" in info.extra and info.extra["training"]["steps"] > 0
    sidecar = json.loads(Path(os.path.splitext(path)[0] + ".json").read_text())
    assert sidecar["architecture"] == info.config.to_dict()


@pytest.mark.slow
def test_model_card_demo_rows_come_from_the_product_path():
    """The card's demo rows (reconstruct on the shipped sample, 2019-04-21 under the clouds of
    2019-04-26): recompute them through ``core.reconstruct`` from the shipped files."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import product_eval as pe
    from bundled_models import MATRIX_MODELS, demo_rows
    models = {k: (str(ROOT / "model_weights" / f), c) for k, (f, c) in MATRIX_MODELS.items()
              if k in ("SMTS-ViT", "SMTS-ViT, no self-check")}
    rows = pe.demo_job((pe.demo_case(str(SAMPLE)), models))
    lines = demo_rows({"rows": {"demo": {m: p.result() for m, p in rows["demo"].items()}}})
    card = CARD.read_text()
    for line in lines.splitlines():
        assert line in card, f"model card lacks or differs on: {line}"


def test_bundled_files_fit_the_size_budget():
    total = sum(os.path.getsize(p) for p in glob.glob(str(ROOT / "model_weights" / "*.pt")))
    assert total < 20 * 10 ** 6
