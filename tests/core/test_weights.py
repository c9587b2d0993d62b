"""The weights file: round trip, damaged files, and weights that do not fit the stack."""
from __future__ import annotations

import json
import re
import os

import pytest
import torch

from core_helpers import list_files
from small_model import save_small_model
from smts_cloudfill_plugin.core.model import config
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.model.network import SmtsVit
from smts_cloudfill_plugin.core.reconstruct import reconstruct
from smts_cloudfill_plugin.core.model.weights import (FORMAT, describe, load_model, read_weights_info,
                                                save_weights)


def _inputs(cfg, h=20, w=25):
    g = torch.Generator().manual_seed(3)
    msi = torch.rand(1, cfg.msi_dates, len(cfg.msi_bands), h, w, generator=g) * 0.3
    missing = torch.rand(1, cfg.msi_dates, h, w, generator=g) < 0.4
    sar = torch.randn(1, cfg.sar_dates, 2, h, w, generator=g) - 12 if cfg.uses_sar else None
    return msi, missing, sar


@pytest.mark.parametrize("factory", [config.smts_vit, config.mts_vit, config.s_vit])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, factory):
    cfg = factory(width=32, depth=2, heads=4, window=20, pos_grid=4)
    norm = config.Normalisation((0.1,) * 10, (0.05,) * 10,
                                *(((-10.0, -17.0), (3.0, 3.5)) if cfg.uses_sar else ()))
    torch.manual_seed(5)
    model = SmtsVit(cfg, norm).eval()
    path = tmp_path / "sub" / "m.pt"
    info = save_weights(str(path), model, extra={"note": "test", "metrics": {"mse": 0.001}})
    assert info.path == str(path)
    assert list_files(tmp_path / "sub") == ["m.json", "m.pt"], "no temporary files left"
    loaded, back = load_model(str(path))
    assert not loaded.training
    assert back.config == cfg and back.normalisation == norm
    assert back.extra == {"note": "test", "metrics": {"mse": 0.001}}
    x = _inputs(cfg)
    with torch.no_grad():
        assert torch.equal(model(*x), loaded(*x))
    sidecar = json.loads((tmp_path / "sub" / "m.json").read_text())
    assert sidecar["variant"] == cfg.variant
    assert config.ModelConfig.from_dict(sidecar["architecture"]) == cfg
    # A different model gives different outputs: the comparison above means something.
    torch.manual_seed(6)
    with torch.no_grad():
        assert not torch.equal(SmtsVit(cfg, norm).eval()(*x), loaded(*x))


def test_describe_names_bands_and_dates():
    s = describe(config.smts_vit())
    assert s.startswith("SMTS-ViT: 6 dates x 10 bands (B02, B03") and "5 SAR dates (VV, VH)" in s
    assert "SAR" not in describe(config.mts_vit())


def _corrupt(tmp_path, kind: str) -> str:
    path = tmp_path / f"{kind}.pt"
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        good = save_small_model(tmp_path / "good.pt")
        data = open(good, "rb").read()
        path.write_bytes(data[:len(data) // 2])
    elif kind == "plain_dict":
        torch.save({"weights": torch.zeros(3)}, str(path))
    elif kind == "plain_state_dict":
        torch.save(SmtsVit(config.mts_vit(width=32, depth=1, heads=4)).state_dict(), str(path))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not weights")
    return str(path)


@pytest.mark.parametrize("kind, message", [
    ("random", "is not a readable weights file"),
    ("truncated", "is not a readable weights file"),
    ("empty", "is not a readable weights file"),
    ("text", "is not a readable weights file"),
    ("plain_dict", "is not an SMTS CloudFill weights file"),
    ("plain_state_dict", "is not an SMTS CloudFill weights file"),
])
def test_corrupt_files_give_a_clear_error(tmp_path, kind, message):
    path = _corrupt(tmp_path, kind)
    for load in (read_weights_info, load_model):
        with pytest.raises(CloudFillError, match=message) as e:
            load(path)
        assert path in str(e.value)


def test_damaged_metadata_newer_format_and_wrong_parameters(tmp_path):
    good = save_small_model(tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    assert payload["format"] == FORMAT

    torch.save({**payload, "metadata": "{not json"}, str(tmp_path / "meta.pt"))
    with pytest.raises(CloudFillError, match="incomplete or damaged"):
        read_weights_info(str(tmp_path / "meta.pt"))

    torch.save({**payload, "format_version": 99}, str(tmp_path / "new.pt"))
    with pytest.raises(CloudFillError, match="newer SMTS CloudFill"):
        read_weights_info(str(tmp_path / "new.pt"))

    meta = json.loads(payload["metadata"])
    meta["architecture"]["width"] = 64
    torch.save({**payload, "metadata": json.dumps(meta)}, str(tmp_path / "wrong.pt"))
    with pytest.raises(CloudFillError, match="do not fit the architecture") as e:
        load_model(str(tmp_path / "wrong.pt"))
    assert "\n" not in str(e.value) and re.search(r"\.( \(and \d+ more\))?$", str(e.value))

    with pytest.raises(CloudFillError, match="does not exist"):
        read_weights_info(str(tmp_path / "missing.pt"))


def test_weights_for_other_bands_name_both(tmp_path, sample):
    bands = ("B01",) + config.S2_BANDS + ("B09",)
    w = save_small_model(tmp_path / "bands.pt", msi_bands=bands)
    out = tmp_path / "out"
    with pytest.raises(CloudFillError) as e:
        reconstruct(sample["msi"], str(out), masks=sample["scl"], sar=sample["sar"], weights=w,
                    device="cpu")
    msg = str(e.value)
    assert "B01" in msg and "B09" in msg, "the model's bands"
    assert "B02, B03, B04, B05, B06, B07, B08, B8A, B11, B12" in msg, "the file's bands"
    assert "S2_0000280849BAC91C_20190401.tif" in msg
    assert not out.exists() or list_files(out) == []


@pytest.mark.parametrize("changes, needed, given", [
    ({"msi_dates": 8}, "8 MSI dates", "6 were given"),
    ({"sar_dates": 7}, "7 SAR dates", "5 were given"),
])
def test_weights_for_more_dates_name_both(tmp_path, sample, changes, needed, given):
    w = save_small_model(tmp_path / "dates.pt", **changes)
    with pytest.raises(CloudFillError) as e:
        reconstruct(sample["msi"], str(tmp_path / "out"), masks=sample["scl"], sar=sample["sar"],
                    weights=w, device="cpu")
    msg = str(e.value)
    assert needed in msg and given in msg and "dates.pt" in msg
    assert describe(read_weights_info(w)[0].config) in msg
    assert list_files(tmp_path / "out") == []


@pytest.mark.slow
def test_fewer_model_dates_than_the_stack_is_fine(tmp_path, sample):
    """A 4-date model on the 6-date sample: each cloudy date gets a centred group of 4."""
    w = save_small_model(tmp_path / "four.pt", msi_dates=4, sar_dates=3)
    res = reconstruct(sample["msi"], str(tmp_path / "out"), masks=sample["scl"], sar=sample["sar"],
                      weights=w, device="cpu")
    assert [r.date_index for r in res] == [1, 3]


@pytest.mark.parametrize("change, message", [
    ({"heads": 0}, r"'heads' is 0; it must be a whole number of at least 1"),
    ({"patch": 0}, r"'patch' is 0; it must be a whole number of at least 1"),
    ({"width": "128"}, r"'width' is '128'; it must be a whole number of at least 1"),
    ({"depth": 2.5}, r"'depth' is 2\.5; it must be a whole number of at least 1"),
    ({"mask_channels": "yes"}, r"'mask_channels' is 'yes'; it must be true or false"),
    ({"msi_bands": "B02"}, r"'msi_bands' is 'B02'; it must be a list of band names"),
    ({"mlp_ratio": None}, r"'mlp_ratio' is None; it must be a positive number"),
    ({"width": 30}, r"width 30 is not a multiple of heads 4"),
    ({"window": -20}, r"'window' is -20; it must be a whole number of at least 1"),
])
def test_tampered_architecture_gives_one_clear_message(tmp_path, change, message):
    """Metadata that parses but describes an impossible model: one message naming the file
    and the field, for reading the file and for building the model (no ZeroDivisionError or
    torch traceback)."""
    good = save_small_model(tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    meta = json.loads(payload["metadata"])
    meta["architecture"].update(change)
    path = str(tmp_path / "tampered.pt")
    torch.save({**payload, "metadata": json.dumps(meta)}, path)
    for load in (read_weights_info, load_model):
        with pytest.raises(CloudFillError) as e:
            load(path)
        msg = str(e.value)
        assert type(e.value) is CloudFillError
        assert re.search(message, msg), msg
        assert f"The metadata of '{path}' is incomplete or damaged" in msg and "\n" not in msg


def test_tampered_normalisation_gives_one_clear_message(tmp_path):
    good = save_small_model(tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    meta = json.loads(payload["metadata"])
    meta["normalisation"]["msi_std"] = meta["normalisation"]["msi_std"][:3]
    path = str(tmp_path / "norm.pt")
    torch.save({**payload, "metadata": json.dumps(meta)}, path)
    with pytest.raises(CloudFillError, match=r"'msi_std' has 3 values for 10 MSI bands"):
        load_model(path)
    meta["normalisation"]["msi_std"] = [0.0] * 10
    torch.save({**payload, "metadata": json.dumps(meta)}, path)
    with pytest.raises(CloudFillError, match=r"'msi_std' is \[0\.0, .*\]; it must hold positive"):
        load_model(path)


def test_a_file_with_python_objects_is_refused_in_whole_sentences(tmp_path):
    """torch's weights-only rejection is long and multi-line; cut at 200 characters it stopped
    mid-sentence. The message says what the file holds and what to use instead."""
    path = str(tmp_path / "pickled.pt")
    torch.save(SmtsVit(config.mts_vit(width=32, depth=1, heads=4)), path)
    with pytest.raises(CloudFillError) as e:
        load_model(path)
    msg = str(e.value)
    assert msg.startswith(f"'{path}' holds Python objects")
    assert "smts_cloudfill_plugin.core.model.network.SmtsVit" in msg
    assert msg.endswith(".") and "\n" not in msg and "\x1b" not in msg


# ----- the software version: metadata.txt's, in both layouts ----------------------------------
def _metadata_version(path) -> str:
    import configparser
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(path, encoding="utf-8")
    return metadata["general"]["version"]


def test_a_weights_file_records_the_version_of_metadata_txt(tmp_path):
    from core_helpers import REPO_ROOT
    cfg = config.mts_vit(width=32, depth=1, heads=4, window=20, pos_grid=4)
    save_weights(str(tmp_path / "m.pt"), SmtsVit(cfg, config.Normalisation((0.1,) * 10,
                                                                             (0.05,) * 10)))
    version = _metadata_version(REPO_ROOT / "metadata.txt")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version), version
    info, _ = read_weights_info(str(tmp_path / "m.pt"))
    assert info.to_dict()["software_version"] == version
    with open(tmp_path / "m.json", encoding="utf-8") as f:
        assert json.load(f)["software_version"] == version
    payload = torch.load(str(tmp_path / "m.pt"), weights_only=True)
    assert json.loads(payload["metadata"])["software_version"] == version


def test_the_version_is_found_inside_an_installed_plugin_too(tmp_path):
    """Packaged or installed, metadata.txt lies beside paths.py (package_plugin.plugin_files);
    in a checkout it is one folder up. paths.py, a leaf module, is loaded alone from a copy."""
    import importlib.util
    import shutil
    import sys
    from core_helpers import REPO_ROOT
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    try:
        from package_plugin import plugin_files
    finally:
        sys.path.remove(str(REPO_ROOT / "scripts"))
    names = {name: src for src, name in plugin_files()}
    assert names["metadata.txt"] == REPO_ROOT / "metadata.txt" and "paths.py" in names
    plugin = tmp_path / "plugins" / "smts_cloudfill_plugin"
    plugin.mkdir(parents=True)
    shutil.copy(names["paths.py"], plugin / "paths.py")
    (plugin / "metadata.txt").write_text("[general]\nname=x\nversion=9.8.7\nabout=100% sure\n")
    spec = importlib.util.spec_from_file_location("installed_paths", plugin / "paths.py")
    installed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installed)
    assert installed.METADATA_PATH == str(plugin / "metadata.txt")
    assert installed.plugin_version() == "9.8.7"
    from smts_cloudfill_plugin import paths
    assert paths.METADATA_PATH == str(REPO_ROOT / "metadata.txt")
    assert paths.plugin_version() == _metadata_version(REPO_ROOT / "metadata.txt")


def test_a_loaded_model_holds_the_file_s_tensors_and_nothing_left_unset(tmp_path):
    """load_model builds the network without initialising it (the file's tensors replace every
    parameter and buffer): each must be a real tensor equal to the saved one, and the model
    must fill as the one that was saved."""
    torch.manual_seed(3)
    cfg = config.mts_vit(width=16, depth=1, heads=2, window=10, **config.OURS)
    saved = SmtsVit(cfg).eval()
    with torch.no_grad():
        saved.refine[-1].weight.normal_(0, 0.1)   # not the zero start: the model must differ
    path = save_weights(str(tmp_path / "m.pt"), saved).path
    loaded, _ = load_model(path)
    for (name, a), (_, b) in zip(saved.state_dict().items(), loaded.state_dict().items()):
        assert not b.is_meta and torch.equal(a, b), name
    msi = torch.rand(2, 6, len(cfg.msi_bands), 10, 10)
    missing = torch.rand(2, 6, 10, 10) < 0.3
    with torch.inference_mode():
        assert torch.equal(saved(msi, missing), loaded(msi, missing))
