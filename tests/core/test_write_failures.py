"""A write that fails (a full disk) is named, and nothing half written stays (issue 19, item 10).

The GeoTIFF write and Train's checkpoint fail for real: the command runs in a subprocess whose
largest file is limited (RLIMIT_FSIZE, no root needed), so the system refuses the write as a
full disk would. The self-check report is smaller than the rasters written before it, so there
the write is made to fail with ENOSPC where the report is written, in the command line's own
process (``core.__main__.main``).
"""
from __future__ import annotations

import builtins
import errno
import json
import os
import re
import subprocess
import sys

import pytest

from core_helpers import REPO_ROOT, SUBPROCESS_ENV, list_files
from small_model import save_small_model
from smts_cloudfill_plugin.core import __main__ as cli
from smts_cloudfill_plugin.core.write import output_set

resource = pytest.importorskip("resource")  # POSIX only


def _limited(max_bytes: int):
    """For subprocess: no file of the child may grow beyond ``max_bytes`` (the write fails
    with EFBIG, "File too large", as a full disk fails with ENOSPC)."""
    def limit() -> None:
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def _run_limited(args: list[str], max_bytes: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=str(REPO_ROOT), capture_output=True,
                          text=True, timeout=300, preexec_fn=_limited(max_bytes),
                          env={**SUBPROCESS_ENV, "PYTHONDONTWRITEBYTECODE": "1"})


@pytest.mark.slow
def test_a_failed_geotiff_write_is_named_and_leaves_nothing(sample, tmp_path, small_weights):
    """Was: a raw RuntimeError traceback (and GDAL's errors again when the file was dropped)."""
    out = tmp_path / "out"
    r = _run_limited(["-m", "smts_cloudfill_plugin.core", "reconstruct", "--msi", *sample["msi"],
                      "--masks", *sample["scl"], "--sar", *sample["sar"], "--weights",
                      small_weights, "--out", str(out), "--device", "cpu", "--no-self-check",
                      "--quiet"], 20000)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()   # GDAL's reason: its last error, which depends on the block
    assert len(lines) == 1 and re.fullmatch(
        rf"Error: Cannot write '{re.escape(str(out))}/S2_0000280849BAC91C_201904(11|26)_filled"
        r"\.tif' \((_tiffWriteProc:File too large|TIFF\w+:.*)\)\. Nothing was written: free some "
        r"space on that disk \(or choose another folder\) and run again\.", lines[0]), r.stderr
    assert r.stdout == "" and not out.exists()


class _FullDisk:
    """A file being written on a full disk: its first bytes go in, then ENOSPC."""

    def __init__(self, f) -> None:
        self.f = f

    def __enter__(self) -> "_FullDisk":
        return self

    def __exit__(self, *exc) -> None:
        self.f.close()

    def write(self, data):
        self.f.write(data[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.slow
def test_a_full_disk_at_the_check_report_leaves_nothing(sample, tmp_path, small_weights,
                                                        monkeypatch, capsys):
    """Was: a traceback (exit 1) after the rasters had been put in place: not all or nothing."""
    def full_at_the_report(path, mode="r", *args, **kw):
        f = builtins.open(path, mode, *args, **kw)
        return _FullDisk(f) if "w" in mode and "cloudfill_check.html" in str(path) else f
    monkeypatch.setattr(output_set, "open", full_at_the_report, raising=False)
    out = tmp_path / "out"
    code = cli.main(["reconstruct", "--msi", *sample["msi"], "--masks", *sample["scl"], "--sar",
                     *sample["sar"], "--weights", small_weights, "--out", str(out), "--device",
                     "cpu", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.splitlines() == [
        f"Error: Cannot write '{out / 'cloudfill_check.html'}' (No space left on device). "
        "Nothing was written: free some space on that disk (or choose another folder) and run "
        "again."], captured.err
    assert captured.out == "" and not out.exists(), list_files(out)


TRAIN = """
import json, sys
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.training.local import train_on_stacks
args = json.loads(sys.argv[1])
try:
    train_on_stacks(args["msi"], args["out"], args["scl"], args["sar"], init_model=args["init"],
                    epochs=2, seed=0, device="cpu")
except CloudFillError as e:
    print(f"Error: {e}", file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.slow
def test_a_full_disk_at_the_training_checkpoint_is_named_and_leaves_no_part(sample, tmp_path):
    """Was: torch's "enforce fail" text and a 3 MB 'model.pt.ckpt.part' left behind. The
    small model's checkpoint (model, best model and optimiser state: about 2.2 MB) is larger
    than the limit; the model it starts from (0.6 MB) is read only."""
    init = save_small_model(tmp_path / "start.pt")
    folder = tmp_path / "trained"
    folder.mkdir()
    out = folder / "m.pt"
    r = _run_limited(["-c", TRAIN, json.dumps({"msi": sample["msi"], "scl": sample["scl"],
                                               "sar": sample["sar"], "init": init,
                                               "out": str(out)})], 1_500_000)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines()[-1] == (
        f"Error: Cannot write '{out}.ckpt' (File too large). Training stopped at step 2 (an "
        "earlier checkpoint, if any, is kept): free some space on that disk (or choose another "
        "folder) and run again."), r.stderr
    assert "Traceback" not in r.stderr and "enforce fail" not in r.stderr
    assert list_files(folder) == [], "no checkpoint part nor model half written"


@pytest.mark.parametrize("full_at", ["m.pt", "m.json"])
def test_a_full_disk_at_saving_weights_is_named_and_leaves_no_part(tmp_path, monkeypatch,
                                                                   full_at):
    """The weights file and its sidecar go through the output set's one atomic write
    (:func:`write_bytes`): on a full disk, a clear error naming the file and no '.part' left
    (the sidecar is written after the weights: a full disk there keeps the new weights)."""
    from smts_cloudfill_plugin.core.errors import CloudFillError
    from smts_cloudfill_plugin.core.model.network import SmtsVit
    from smts_cloudfill_plugin.core.model.weights import save_weights
    from small_model import small_config

    def full(path, mode="r", *args, **kw):
        f = builtins.open(path, mode, *args, **kw)
        name = os.path.basename(str(path))
        return _FullDisk(f) if "w" in mode and name.startswith(f".{full_at}.") else f
    monkeypatch.setattr(output_set, "open", full, raising=False)
    with pytest.raises(CloudFillError, match=rf"Cannot write '.*{full_at}' \(No space left"):
        save_weights(str(tmp_path / "m.pt"), SmtsVit(small_config()))
    left = list_files(tmp_path)
    assert not [n for n in left if n.endswith(".part")], left
    assert left == ([] if full_at == "m.pt" else ["m.pt"]), left
