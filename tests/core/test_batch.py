"""Many stacks (core.batch): here in turn and on a Dask LocalCluster of 2 worker processes,
outputs bit-identical to single runs; a bad stack reported while the others are filled; a worker
killed mid-run costs only a rerun of its task; the command line."""
from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest

from core_helpers import list_files, read_raster, run_cli, truncate_copy
from smts_cloudfill_plugin.core.batch import read_batch, run_batch
from smts_cloudfill_plugin.core.errors import CloudFillError
from smts_cloudfill_plugin.core.reconstruct import reconstruct

@pytest.fixture(scope="module")
def cluster():
    """Dask comes from `make setup` (requirements-cluster.txt); where the machine cannot fetch
    it, only the cluster's tests are left out, said so by pytest."""
    distributed = pytest.importorskip("distributed", reason="Dask not installed (make setup "
                                      "installs it where the package index is reachable)")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as c:
        yield c


def batch_file(folder, sample, stacks: dict[str, dict]) -> str:
    entries = [{"name": name, "msi": sample["msi"], "masks": sample["scl"], "sar": sample["sar"],
                "out": f"out_{name}", **extra} for name, extra in stacks.items()]
    path = os.path.join(folder, "batch.json")
    with open(path, "w") as f:
        json.dump(entries, f)
    return path


@pytest.fixture(scope="module")
def single_run(sample_module, small_weights, tmp_path_factory):
    """The sample filled by one ordinary run: what every batch must give, bit for bit."""
    out = tmp_path_factory.mktemp("single")
    reconstruct(sample_module["msi"], str(out), masks=sample_module["scl"],
                sar=sample_module["sar"], weights=small_weights, device="cpu")
    return out


@pytest.fixture(scope="module")
def sample_module():
    from core_helpers import sample_paths
    return {k: sample_paths(k) for k in ("msi", "scl", "sar")}


def assert_same_outputs(folder, reference) -> None:
    names = list_files(folder)
    assert names == list_files(reference)
    for n in names:
        if n.endswith(".tif"):
            np.testing.assert_array_equal(read_raster(os.path.join(folder, n)),
                                          read_raster(os.path.join(reference, n)))


@pytest.mark.slow
def test_here_the_outputs_are_those_of_single_runs(sample_module, small_weights, single_run,
                                                    tmp_path):
    path = batch_file(str(tmp_path), sample_module, {"a": {}, "b": {}})
    options = {"weights": small_weights, "device": "cpu"}
    here = run_batch(read_batch(path), options)
    assert [o.ok for o in here] == [True, True] and here[0].message == "2 cloudy dates filled"
    for name in "ab":
        assert_same_outputs(tmp_path / f"out_{name}", single_run)


@pytest.mark.slow
def test_on_a_local_cluster_the_outputs_are_those_of_single_runs(
        sample_module, small_weights, single_run, cluster, tmp_path):
    options = {"weights": small_weights, "device": "cpu"}
    cluster_dir = tmp_path / "cluster"
    cluster_dir.mkdir()
    path = batch_file(str(cluster_dir), sample_module, {"a": {}, "b": {}})
    outcomes = run_batch(read_batch(path), options, cluster.scheduler_address)
    assert [(o.name, o.ok) for o in outcomes] == [("a", True), ("b", True)]
    for name in "ab":
        assert_same_outputs(cluster_dir / f"out_{name}", single_run)


@pytest.mark.slow
def test_a_bad_stack_is_reported_and_the_others_are_filled(
        sample_module, small_weights, single_run, cluster, tmp_path):
    cut = truncate_copy(sample_module["msi"][2], tmp_path / os.path.basename(
        sample_module["msi"][2]), 0.6)
    bad_msi = sample_module["msi"][:2] + [str(cut)] + sample_module["msi"][3:]
    path = batch_file(str(tmp_path), sample_module, {"good": {}, "bad": {"msi": bad_msi}})
    outcomes = run_batch(read_batch(path), {"weights": small_weights, "device": "cpu"},
                         cluster.scheduler_address)
    assert [(o.name, o.ok) for o in outcomes] == [("good", True), ("bad", False)]
    assert "is truncated" in outcomes[1].message
    assert_same_outputs(tmp_path / "out_good", single_run)
    assert not (tmp_path / "out_bad").exists(), "a refused stack leaves no folder"


def killer_of_a_busy_worker(client, prefix: str, killed: list[int]):
    """A started thread that kills (SIGKILL) the first worker seen running a task whose key
    starts with ``prefix`` (within 60 s), its pid added to ``killed``."""
    import threading

    def kill_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            busy = [w for w, keys in client.processing().items()
                    if any(str(k).startswith(prefix) for k in keys)]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    return killer


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_a_rerun_and_the_outputs_are_the_same(
        sample_module, small_weights, single_run, cluster, tmp_path):
    import distributed
    path = batch_file(str(tmp_path), sample_module, {"a": {}, "b": {}})
    client = distributed.Client(cluster.scheduler_address)
    killed: list[int] = []
    killer = killer_of_a_busy_worker(client, "smts-stack-", killed)
    try:
        outcomes = run_batch(read_batch(path), {"weights": small_weights, "device": "cpu"},
                             cluster.scheduler_address)
    finally:
        killer.join()
        client.close()
    assert killed, "a worker was killed while it ran a stack"
    assert [o.ok for o in outcomes] == [True, True], [o.message for o in outcomes]
    for name in "ab":
        assert_same_outputs(tmp_path / f"out_{name}", single_run)


def test_batch_files_are_checked(tmp_path, sample_module):
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    with pytest.raises(CloudFillError, match="not valid JSON"):
        read_batch(str(bad))
    bad.write_text(json.dumps([{"msi": sample_module["msi"]}]))
    with pytest.raises(CloudFillError, match="needs 'msi'"):
        read_batch(str(bad))
    bad.write_text(json.dumps([{"msi": ["x.tif"], "out": "o"}, {"msi": ["y.tif"], "out": "o"}]))
    with pytest.raises(CloudFillError, match="one output folder"):
        read_batch(str(bad))
    jobs = read_batch(str(batch_file(str(tmp_path), sample_module, {"a": {}})))
    assert jobs[0].out == str(tmp_path / "out_a") and jobs[0].masks == sample_module["scl"]


@pytest.mark.slow
def test_the_command_line(sample_module, small_weights, tmp_path):
    path = batch_file(str(tmp_path), sample_module, {"a": {}, "broken": {"msi": ["nope.tif"]}})
    r = run_cli("batch", path, "--weights", small_weights, "--device", "cpu", "--quiet",
                timeout=300)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("ok\ta\t2 cloudy dates filled")
    assert lines[1].startswith("FAILED\tbroken\t") and "does not exist" in lines[1]
    assert "1 of 2 stacks not filled." in r.stderr and "Traceback" not in r.stderr


# One fill's blocks as tasks of the cluster (reconstruct --scheduler): blocks of one window, so
# that the sample's fill makes many tasks.
ONE_WINDOW_BLOCKS = {"block_windows": 1, "strip_columns": 32}


@pytest.mark.slow
def test_one_fill_on_a_local_cluster_gives_the_bits_of_a_local_run(
        sample_module, small_weights, single_run, cluster, tmp_path):
    from smts_cloudfill_plugin.core.fill.settings import FillSettings
    results = reconstruct(sample_module["msi"], str(tmp_path), masks=sample_module["scl"],
                          sar=sample_module["sar"], weights=small_weights, device="cpu",
                          fill=FillSettings(scheduler=cluster.scheduler_address,
                                            **ONE_WINDOW_BLOCKS))
    assert [r.date_index for r in results] == [1, 3]
    assert sum(r.windows_run for r in results) > 8, "many blocks, each a task"
    assert_same_outputs(tmp_path, single_run)


@pytest.mark.slow
def test_one_fill_with_a_worker_killed_mid_run_gives_the_same_bits(
        sample_module, small_weights, single_run, cluster, tmp_path):
    """A worker killed while it runs a block: Dask runs its blocks again elsewhere, and the
    client still blends them in order: the same outputs."""
    import distributed
    from smts_cloudfill_plugin.core.fill.settings import FillSettings
    client = distributed.Client(cluster.scheduler_address)
    killed: list[int] = []
    killer = killer_of_a_busy_worker(client, "smts-fill-", killed)
    try:
        reconstruct(sample_module["msi"], str(tmp_path), masks=sample_module["scl"],
                    sar=sample_module["sar"], weights=small_weights, device="cpu",
                    self_check=False, fill=FillSettings(scheduler=cluster.scheduler_address,
                                                        **ONE_WINDOW_BLOCKS))
    finally:
        killer.join()
        client.close()
    assert killed, "a worker was killed while it ran a block"
    local = tmp_path.parent / (tmp_path.name + "_local")
    reconstruct(sample_module["msi"], str(local), masks=sample_module["scl"],
                sar=sample_module["sar"], weights=small_weights, device="cpu", self_check=False)
    assert_same_outputs(tmp_path, local)


def test_one_fill_on_a_cluster_refuses_what_workers_cannot_read(sample_module, small_weights,
                                                                tmp_path):
    from smts_cloudfill_plugin.core.fill.settings import FillSettings
    with pytest.raises(CloudFillError, match="haze check"):
        reconstruct(sample_module["msi"], str(tmp_path / "o"), masks=sample_module["scl"],
                    weights=small_weights, device="cpu", haze_check=True,
                    fill=FillSettings(scheduler="tcp://127.0.0.1:1"))
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_reconstruct_on_the_command_line_with_a_scheduler(sample_module, small_weights,
                                                          single_run, cluster, tmp_path):
    r = run_cli("reconstruct", "--msi", *sample_module["msi"], "--masks", *sample_module["scl"],
                "--sar", *sample_module["sar"], "--weights", small_weights, "--device", "cpu",
                "--out", str(tmp_path), "--scheduler", cluster.scheduler_address, "--quiet",
                timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_outputs(tmp_path, single_run)
    r = run_cli("reconstruct", "--msi", *sample_module["msi"], "--masks", *sample_module["scl"],
                "--sar", *sample_module["sar"], "--weights", small_weights, "--device", "cpu",
                "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:1", "--quiet",
                timeout=120)
    assert r.returncode != 0 and "Cannot reach the Dask scheduler" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()
