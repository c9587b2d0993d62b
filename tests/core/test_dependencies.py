"""The dependency folder and the pip command (plain Python: no QGIS, no network, no pip run)."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from smts_cloudfill_plugin import dependencies as deps

TAG = f"py{sys.version_info.major}{sys.version_info.minor}"


@pytest.fixture
def folder(tmp_path):
    return deps.dependency_folder(str(tmp_path / "profile"))


@pytest.fixture
def clean_path(monkeypatch):
    """sys.path restored after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_folder_is_per_python_version_in_the_profile(tmp_path):
    got = deps.dependency_folder(str(tmp_path))
    assert got == os.path.join(str(tmp_path), "python", "smts_cloudfill_deps", TAG)
    assert deps.python_tag() == TAG
    # QgsApplication.qgisSettingsDirPath() ends with a slash: same folder
    assert os.path.normpath(deps.dependency_folder(str(tmp_path) + "/")) == got


def test_real_python_is_an_interpreter_of_this_version(monkeypatch):
    py = deps.real_python()
    assert os.path.isfile(py) and os.path.basename(py).startswith("python")
    # Embedded in QGIS, sys.executable is QGIS itself: look under sys.exec_prefix instead.
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis")
    embedded = deps.real_python()
    assert embedded.startswith(sys.exec_prefix) or embedded.startswith(sys.base_exec_prefix)
    assert os.path.basename(embedded).startswith("python")
    monkeypatch.setattr(sys, "executable", "")
    assert os.path.basename(deps.real_python()).startswith("python")


def _option(cmd: list[str], name: str) -> list[str]:
    return [cmd[i + 1] for i, arg in enumerate(cmd[:-1]) if arg == name]


def test_cpu_command(folder, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    cmd = deps.pip_install_command(folder, cuda=False)
    assert cmd[:4] == [deps.real_python(), "-m", "pip", "install"]
    assert _option(cmd, "--target") == [folder]
    assert "--upgrade" in cmd and "--only-binary=:all:" in cmd
    assert cmd[-1] == deps.TORCH_REQUIREMENT and deps.TORCH_REQUIREMENT.startswith("torch==")
    # An extra index: pip's configured find-links and indexes (here /opt/wheels) still count.
    assert _option(cmd, "--extra-index-url") == ["https://download.pytorch.org/whl/cpu"]
    assert "--index-url" not in cmd and "--no-index" not in cmd
    assert not any(arg.startswith("--find-links") for arg in cmd)


def test_cuda_command_uses_pypi_default(folder, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    cmd = deps.pip_install_command(folder, cuda=True, python="/opt/py/bin/python3")
    assert cmd[0] == "/opt/py/bin/python3"
    assert "--extra-index-url" not in cmd and "--index-url" not in cmd
    assert cmd[-1] == deps.TORCH_REQUIREMENT and _option(cmd, "--target") == [folder]


def test_cpu_command_on_windows_needs_no_extra_index(folder, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")  # PyPI's Windows wheel is CPU-only
    assert "--extra-index-url" not in deps.pip_install_command(folder, cuda=False, python="py")


def test_constraints_pin_the_system_numpy_next_to_the_folder(folder):
    cmd = deps.pip_install_command(folder, cuda=False)
    (constraints,) = _option(cmd, "--constraint")
    assert os.path.dirname(constraints) == os.path.dirname(folder)  # next to, not inside
    assert os.path.basename(constraints) == f"constraints-{TAG}.txt"
    lines = [ln.strip() for ln in open(constraints, encoding="utf-8") if ln.strip()
             and not ln.startswith("#")]
    assert lines == [f"numpy=={version('numpy')}"]
    import numpy
    assert numpy.__version__ == version("numpy")


def test_add_dependency_folder_prepends_once(folder, clean_path):
    os.makedirs(folder)
    assert deps.add_dependency_folder(folder) == folder
    assert sys.path[0] == folder
    n = len(sys.path)
    deps.add_dependency_folder(folder)
    assert len(sys.path) == n and sys.path.count(folder) == 1


def test_add_dependency_folder_skips_a_missing_folder(folder, clean_path):
    before = list(sys.path)
    assert deps.add_dependency_folder(folder) == folder
    assert sys.path == before


def test_verify_reports_where_torch_comes_from(folder, tmp_path):
    """The check imports torch in a fresh interpreter with the folder first on sys.path."""
    fake = os.path.join(folder, "torch")
    os.makedirs(fake)
    with open(os.path.join(fake, "__init__.py"), "w") as f:
        f.write("__version__ = '0.0.1+fake'\n")
    code = deps.verify_command(folder)[-1]
    assert "sys.path.insert(0" in code and "import torch" in code
    version_, path = deps.verify_torch(folder)
    assert version_ == "0.0.1+fake" and deps.is_inside(path, folder)
    assert deps.torch_in_folder(folder) == "0.0.1+fake"
    # An empty folder: whatever torch the interpreter has is not the folder's own
    assert deps.torch_in_folder(str(tmp_path / "empty")) is None


def test_parse_verify_output():
    assert deps.parse_verify_output("warning\n2.13.0+cpu\n/x/torch/__init__.py\n") == (
        "2.13.0+cpu", "/x/torch/__init__.py")
    assert deps.parse_verify_output("") is None


def test_missing_message_names_the_installer():
    assert "Install PyTorch" in deps.missing_message()


def test_the_dev_setup_installs_the_plugins_own_torch_pin():
    """One pin: `make setup` installs TORCH_REQUIREMENT read from dependencies.py, and
    requirements-dev.txt names no torch of its own."""
    root = Path(deps.__file__).resolve().parents[1]
    requirements = (root / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert not [ln for ln in requirements if ln.strip().lower().startswith("torch")]
    done = subprocess.run(["make", "--dry-run", "--always-make", ".venv/.setup-done"],
                          cwd=str(root), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "-r requirements-dev.txt" in done.stdout
    assert f'"{deps.TORCH_REQUIREMENT}"' in done.stdout, done.stdout
