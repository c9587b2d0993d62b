"""The "Train on local stacks" algorithm inside QGIS, and its model in "Reconstruct cloudy MSI"."""
from __future__ import annotations

import os

import pytest
import torch
from osgeo import gdal

from qgis.core import QgsApplication, QgsProcessingException

from smts_cloudfill_plugin.core.model.weights import bundled_weights_path, load_model

torch.set_num_threads(1)
from sample_stack import MSI, SAR, SCL  # noqa: E402 (tests/ is on sys.path)


def test_train_algorithm_has_help_everywhere(provider):
    alg = QgsApplication.processingRegistry().algorithmById("smts_cloudfill:train")
    assert alg.displayName() == "Train on local stacks"
    assert "interpolation" in alg.shortHelpString() and "arXiv:2506.19591" in alg.shortHelpString()
    for p in alg.parameterDefinitions():
        assert p.help(), p.name()


@pytest.mark.slow
def test_fine_tune_bundled_then_reconstruct_with_it(provider, tmp_path):
    import processing
    assert os.path.exists(bundled_weights_path(True)), "the bundled SMTS-ViT is part of the repo"
    model_path = str(tmp_path / "mine.pt")
    report = str(tmp_path / "report.html")
    result = processing.run("smts_cloudfill:train", {
        "MSI": MSI, "MASKS": SCL, "SAR": SAR, "EPOCHS": 2, "MAX_MINUTES": 2, "SEED": 1,
        "OUTPUT_MODEL": model_path, "OUTPUT_REPORT": report})
    assert result["OUTPUT_MODEL"] == model_path
    model, info = load_model(model_path)
    assert info.extra["fine_tuned_from"] == "smts_vit.pt"
    assert "<svg" in open(report, encoding="utf-8").read()
    out = tmp_path / "filled"
    rec = processing.run("smts_cloudfill:reconstruct", {
        "MSI": MSI, "MASKS": SCL, "SAR": SAR, "MODEL": model_path, "OUTPUT_FOLDER": str(out)})
    assert len(rec["FILLED"]) == 2 and all(os.path.exists(p) for p in rec["FILLED"])
    assert gdal.Open(rec["FILLED"][0]).GetMetadataItem("SMTS_WEIGHTS") == "mine.pt"


def test_band_mismatch_is_a_processing_error(provider, tmp_path):
    import processing
    four = []
    for p in MSI:
        dst = str(tmp_path / os.path.basename(p))
        gdal.Translate(dst, p, bandList=[1, 2, 3, 7])
        four.append(dst)
    with pytest.raises(QgsProcessingException, match="missing: B05"):
        processing.run("smts_cloudfill:train", {"MSI": four, "MASKS": SCL, "SAR": SAR, "EPOCHS": 1,
                                                "OUTPUT_MODEL": str(tmp_path / "new" / "x.pt")})
    assert not os.path.exists(tmp_path / "new"), "a refused training leaves no folder it made"


def test_model_output_defaults_to_a_kept_file_not_a_temporary_one(provider, tmp_path):
    """Issue 11, item 15: a trained model in a temporary file is lost when QGIS closes."""
    from qgis.core import QgsProcessingContext, QgsProject
    alg = QgsApplication.processingRegistry().createAlgorithmById("smts_cloudfill:train")
    default = alg.parameterDefinition("OUTPUT_MODEL").defaultValue()
    assert isinstance(default, str) and default.endswith(".pt") and "TEMPORARY" not in default
    assert default.startswith(QgsApplication.qgisSettingsDirPath())
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    ok, message = alg.checkParameterValues({"MSI": MSI, "OUTPUT_MODEL": "TEMPORARY_OUTPUT"},
                                           context)
    assert not ok and "temporary file" in message
    assert alg.checkParameterValues({"MSI": MSI, "OUTPUT_MODEL": str(tmp_path / "m.pt")},
                                    context) == (True, "")
