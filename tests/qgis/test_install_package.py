"""Packaging and installing the plugin, seen by qgis_process; the PyTorch install dialog.

The release zip is built with scripts/package_plugin.py, then installed into a temporary HOME's
profile twice: by scripts/install_plugin.py (what `make install` runs) and by extracting the zip
the way QGIS's Plugin Manager does. qgis_process (QGIS's own Python, not this venv) must then
list the plugin and its algorithm.

PyTorch in the temporary profile: a real `pip install torch` from /opt/wheels takes minutes, so
the dependency folder is filled with *symlinks* to the torch packages of this venv (torch and the
packages torch imports that Debian lacks or has too old, e.g. sympy >= 1.13). install_plugin.py
then finds torch importable from the folder and skips pip, exactly as on a second `make install`;
the folder works for the system Python that QGIS embeds (checked below with /usr/bin/python3).
The pip command itself is covered in tests/core/test_dependencies.py.
"""
from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from smts_cloudfill_plugin import dependencies as deps

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
PLUGIN = "smts_cloudfill_plugin"
QGIS_PROCESS = shutil.which("qgis_process.bin")
SYSTEM_PYTHON = "/usr/bin/python3"  # the Python that QGIS embeds on Debian
MAX_BYTES = 25 * 10**6
# Packages of this venv that torch needs in the dependency folder (Debian's sympy is 1.11).
TORCH_DEPS = ["torch", "torchgen", "functorch", "sympy", "mpmath", "networkx", "filelock",
              "fsspec", "jinja2", "markupsafe", "typing_extensions.py", "isympy.py"]

sys.path.insert(0, str(SCRIPTS))
import install_plugin  # noqa: E402
import package_plugin  # noqa: E402

needs_qgis_process = pytest.mark.skipif(QGIS_PROCESS is None, reason="no qgis_process.bin")


def _venv_site_packages() -> Path:
    import torch
    return Path(torch.__file__).resolve().parents[1]


def link_torch(folder: str) -> None:
    """Fill the dependency folder with symlinks to this venv's torch and its dependencies."""
    os.makedirs(folder, exist_ok=True)
    site = _venv_site_packages()
    for name in TORCH_DEPS + [p.name for p in site.glob("*.dist-info")
                              if p.name.split("-")[0].lower() in
                              {"torch", "sympy", "mpmath", "networkx", "filelock", "fsspec",
                               "jinja2", "markupsafe", "typing_extensions"}]:
        src = site / name
        if src.exists() and not os.path.lexists(os.path.join(folder, name)):
            os.symlink(src, os.path.join(folder, name))


def qgis_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "QGIS_PLUGINPATH", "QGIS_CUSTOM_CONFIG_PATH",
                        "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    return env


def run(cmd, home: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], env=qgis_env(home), capture_output=True,
                          text=True, timeout=timeout, cwd=str(home))


def profile_of(home: Path) -> Path:
    return home / ".local" / "share" / "QGIS" / "QGIS3" / "profiles" / "default"


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("dist") / f"{PLUGIN}.zip"
    done = subprocess.run([sys.executable, str(SCRIPTS / "package_plugin.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return out, done.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A temporary HOME: plugin installed by scripts/install_plugin.py, torch linked in."""
    home = tmp_path_factory.mktemp("home")
    link_torch(deps.dependency_folder(str(profile_of(home))))
    args = [] if QGIS_PROCESS else ["--no-enable"]
    done = run([sys.executable, SCRIPTS / "install_plugin.py", *args], home, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    home.joinpath("install.log").write_text(done.stdout)
    return home


# -- the zip -------------------------------------------------------------------------------------
def test_zip_layout(built_zip):
    path, printed = built_zip
    size = path.stat().st_size
    assert size < MAX_BYTES
    assert f"{size / 1e6:.2f} MB" in printed
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert {n.split("/")[0] for n in names} == {PLUGIN}  # exactly one top folder
        meta = configparser.ConfigParser()
        meta.read_string(zf.read(f"{PLUGIN}/metadata.txt").decode("utf-8"))
    general = meta["general"]
    assert general["hasProcessingProvider"] == "yes"
    assert general["qgisMinimumVersion"] == "3.22"
    for required in ("__init__.py", "plugin.py", "dependencies.py", "algorithms/provider.py",
                     "algorithms/reconstruct_msi.py", "gui/install_dialog.py", "core/model/network.py",
                     general["icon"], "resources/sample/README.md"):
        assert f"{PLUGIN}/{required}" in names, required
    assert any(n.startswith(f"{PLUGIN}/resources/sample/msi/") for n in names)
    bad = [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))
           or "/tests/" in n or "/screenshots/" in n or "/." in n or n.endswith(".aux.xml")]
    assert not bad
    # The models the plugin uses go in, inside the plugin folder; the S-ViT ablation and the
    # evaluation files stay in the repository.
    for name in ("smts_vit.pt", "smts_vit.json", "mts_vit.pt", "mts_vit.json", "MODEL_CARD.md"):
        assert f"{PLUGIN}/model_weights/{name}" in names
    assert f"{PLUGIN}/model_weights/s_vit.pt" not in names


def test_zip_has_the_licence_and_a_real_contact(built_zip):
    """QGIS's plugin repository refuses a zip without a LICENSE file, and its e-mail must be one
    that can receive mail (not a placeholder domain)."""
    path, _ = built_zip
    with zipfile.ZipFile(path) as zf:
        licence = zf.read(f"{PLUGIN}/LICENSE").decode("utf-8")
        meta = configparser.ConfigParser()
        meta.read_string(zf.read(f"{PLUGIN}/metadata.txt").decode("utf-8"))
    assert licence == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 2, June 1991" in licence
    assert "or (at your option) any later version" in licence
    email = meta["general"]["email"]
    assert re.fullmatch(r"[\w.+-]+@[\w-]+(\.[\w-]+)+", email), email
    assert not re.search(r"@(.*\.)?example\.(org|com|net)$|@localhost", email), email


@pytest.mark.slow
def test_install_and_package_share_one_file_list(built_zip, home):
    assert install_plugin.plugin_files is package_plugin.plugin_files
    path, _ = built_zip
    with zipfile.ZipFile(path) as zf:
        zipped = {n[len(PLUGIN) + 1:] for n in zf.namelist() if not n.endswith("/")}
    plugin_dir = profile_of(home) / "python" / "plugins" / PLUGIN
    copied = {p.relative_to(plugin_dir).as_posix() for p in plugin_dir.rglob("*") if p.is_file()
              and "__pycache__" not in p.parts}  # qgis_process may have compiled some
    assert copied == zipped


# -- scripts/install_plugin.py -------------------------------------------------------------------
@pytest.mark.slow
def test_install_script_copies_plugin_keeps_torch_and_enables(home):
    log = home.joinpath("install.log").read_text()
    folder = deps.dependency_folder(str(profile_of(home)))
    assert "skipping pip" in log  # idempotent: torch already imports from the folder
    # A second run (a second `make install`) succeeds too: copy again, skip pip, enabled already
    again = run([sys.executable, SCRIPTS / "install_plugin.py"], home, timeout=300)
    assert again.returncode == 0 and "skipping pip" in again.stdout, again.stdout + again.stderr
    plugin_dir = profile_of(home) / "python" / "plugins" / PLUGIN
    assert (plugin_dir / "metadata.txt").is_file() and (plugin_dir / "__init__.py").is_file()
    assert (plugin_dir / "resources" / "icon.svg").is_file()
    # The dependency folder is outside the plugin folder (upgrades delete the plugin folder)
    assert not deps.is_inside(folder, str(plugin_dir))
    if QGIS_PROCESS:
        ini = configparser.ConfigParser(strict=False, interpolation=None)
        ini.read(profile_of(home) / "QGIS" / "QGIS3.ini")
        assert ini["PythonPlugins"][PLUGIN] == "true"


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="no system Python")
def test_dependency_folder_gives_torch_to_qgis_python(home):
    """QGIS's Python (Debian's, without torch) imports torch from the folder."""
    folder = deps.dependency_folder(str(profile_of(home)))
    found = deps.torch_in_folder(folder, SYSTEM_PYTHON)
    assert found and found.startswith(deps.TORCH_REQUIREMENT.split("==")[1]), found


def test_install_script_replaces_old_copy_and_keeps_symlink_targets(tmp_path):
    target = tmp_path / "checkout"
    target.mkdir()
    (target / "keep.txt").write_text("a developer's checkout")
    plugin_dir = tmp_path / "plugins" / PLUGIN
    plugin_dir.parent.mkdir()
    plugin_dir.symlink_to(target, target_is_directory=True)
    install_plugin.copy_plugin(plugin_dir)
    assert (target / "keep.txt").exists() and not plugin_dir.is_symlink()
    (plugin_dir / "stale.py").write_text("")
    (plugin_dir / "__pycache__").mkdir()
    install_plugin.copy_plugin(plugin_dir)
    assert not (plugin_dir / "stale.py").exists() and not (plugin_dir / "__pycache__").exists()
    assert not list(plugin_dir.rglob("__pycache__"))
    assert not [p for p in plugin_dir.parent.iterdir() if p.name.startswith(".")]


# -- the zip, installed like the Plugin Manager does, seen by qgis_process ------------------------
def _plugin_manager_unzip():
    """QGIS's own pyplugin_installer/unzip.py (importing the package needs the desktop)."""
    for base in ("/usr/share/qgis/python", "/usr/lib/qgis/python"):
        path = os.path.join(base, "pyplugin_installer", "unzip.py")
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("qgis_plugin_unzip", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.unzip
    return lambda file, target: zipfile.ZipFile(file).extractall(target)


@pytest.mark.slow
@needs_qgis_process
def test_zip_installs_and_qgis_process_finds_the_algorithm(built_zip, home):
    path, _ = built_zip
    plugins = profile_of(home) / "python" / "plugins"
    shutil.rmtree(plugins / PLUGIN)  # the Plugin Manager removes the old version first
    _plugin_manager_unzip()(str(path), str(plugins))
    assert (plugins / PLUGIN / "metadata.txt").is_file()

    # install_plugin.py enabled it already; start from a disabled plugin, as after a download
    disabled = run([QGIS_PROCESS, "plugins", "disable", PLUGIN], home)
    assert disabled.returncode == 0, disabled.stdout + disabled.stderr
    enabled = run([QGIS_PROCESS, "plugins", "enable", PLUGIN], home)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    listed = run([QGIS_PROCESS, "plugins"], home)
    assert listed.returncode == 0 and PLUGIN in listed.stdout, listed.stdout + listed.stderr
    algorithms = run([QGIS_PROCESS, "list"], home)
    assert algorithms.returncode == 0, algorithms.stderr
    assert "smts_cloudfill:reconstruct" in algorithms.stdout
    helped = run([QGIS_PROCESS, "help", "smts_cloudfill:reconstruct"], home)
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert "MSI" in helped.stdout and "OUTPUT_FOLDER" in helped.stdout


@pytest.mark.slow
@needs_qgis_process
def test_qgis_process_runs_reconstruct_with_the_bundled_model(home, tmp_path):
    """What a power user types after `make install`: bundled weights, exit 0, outputs written."""
    sample = ROOT / "resources" / "sample"
    args = [f"MSI={p}" for p in sorted((sample / "msi").glob("*.tif"))]
    args += [f"MASKS={p}" for p in sorted((sample / "scl").glob("*.tif"))]
    args += [f"SAR={p}" for p in sorted((sample / "sar").glob("*.tif"))]
    out = tmp_path / "out"
    done = run([QGIS_PROCESS, "run", "smts_cloudfill:reconstruct", "--", *args,
                f"OUTPUT_FOLDER={out}"], home, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Device: CPU" in done.stdout and "SMTS-ViT" in done.stdout
    assert sorted(p.name for p in out.glob("*_filled.tif")) == [
        "S2_0000280849BAC91C_20190411_filled.tif", "S2_0000280849BAC91C_20190426_filled.tif"]

    # Bad input: a clear error, exit code 1, no traceback, nothing written.
    bad_out = tmp_path / "bad"
    bad = run([QGIS_PROCESS, "run", "smts_cloudfill:reconstruct", "--", *args[:6], *args[6:10],
               f"OUTPUT_FOLDER={bad_out}"], home, timeout=300)
    assert bad.returncode == 1
    assert "4 cloud masks for 6 Sentinel-2 dates" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
    assert not list(bad_out.glob("*.tif")) if bad_out.exists() else True


# -- the install dialog --------------------------------------------------------------------------
def _wait(condition, timeout: float = 60.0) -> bool:
    """pytest-qgis's wait helper (an event loop polling ``condition``), in seconds."""
    from pytest_qgis.utils import wait_until
    return wait_until(condition, timeout_milliseconds=int(timeout * 1000))


FAKE_PIP = """
import os, sys
folder, cuda = sys.argv[1], sys.argv[2]
print("Collecting torch==2.13.0 (cuda=%s)" % cuda, flush=True)
os.makedirs(os.path.join(folder, "torch"), exist_ok=True)
with open(os.path.join(folder, "torch", "__init__.py"), "w") as f:
    f.write("__version__ = '2.13.0+fake'\\n")
print("Successfully installed torch-2.13.0", flush=True)
"""


@pytest.fixture
def dialog_factory(qgis_app, monkeypatch, tmp_path):
    from smts_cloudfill_plugin.gui import install_dialog
    monkeypatch.setattr(sys, "path", list(sys.path))  # the dialog prepends the folder
    made = []

    def make(script: str):
        folder = str(tmp_path / "deps" / deps.python_tag())
        dlg = install_dialog.InstallDialog(
            None, folder=folder, python=sys.executable,
            command=lambda f, cuda: [sys.executable, "-c", script, f, str(cuda)])
        made.append(dlg)
        return dlg

    yield make
    for dlg in made:
        dlg.close()
        dlg.deleteLater()


def test_dialog_streams_pip_log_and_confirms_by_importing(dialog_factory):
    dlg = dialog_factory(FAKE_PIP)
    assert dlg.folder in dlg.where.text() and dlg.cpu.isChecked() and dlg.log.isReadOnly()
    dlg.cuda.setChecked(True)
    dlg.install_button.click()
    assert dlg.close_button.text() == "Cancel" and not dlg.install_button.isEnabled()
    assert _wait(lambda: dlg.succeeded is not None)
    log = dlg.log.toPlainText()
    assert "Collecting torch==2.13.0 (cuda=True)" in log and "Successfully installed" in log
    assert f"PyTorch 2.13.0+fake imports from {dlg.folder}" in log
    assert dlg.succeeded and "2.13.0+fake installed" in dlg.status.text()
    assert sys.path[0] == dlg.folder  # the running QGIS can now import it
    assert dlg.install_button.isEnabled() and dlg.close_button.text() == "Close"


def test_dialog_failure_keeps_log(dialog_factory):
    dlg = dialog_factory("import sys; print('ERROR: No matching distribution found for torch');"
                         " sys.exit(1)")
    results = []
    dlg.finished_install.connect(results.append)
    dlg.start_install()
    assert _wait(lambda: results)
    assert results == [False] and dlg.succeeded is False
    assert "No matching distribution" in dlg.log.toPlainText()
    assert "exit code 1" in dlg.status.text()
    assert dlg.install_button.isEnabled() and dlg.folder not in sys.path


@pytest.mark.slow
def test_dialog_fails_when_torch_does_not_import(dialog_factory):
    dlg = dialog_factory("print('pip said yes')")  # exits 0 but installs nothing
    dlg.start_install()
    assert _wait(lambda: dlg.succeeded is not None)
    assert dlg.succeeded is False and "does not import" in dlg.status.text()
    assert "pip said yes" in dlg.log.toPlainText()


def test_dialog_cancel(dialog_factory):
    dlg = dialog_factory("import time; print('downloading', flush=True); time.sleep(60)")
    dlg.start_install()
    assert _wait(lambda: "downloading" in dlg.log.toPlainText(), 20)
    dlg.close_button.click()  # reads "Cancel" while pip runs
    assert dlg.succeeded is False and "cancelled" in dlg.status.text()
    assert dlg.process is None


def test_offer_install_if_missing(qgis_iface, monkeypatch):
    from smts_cloudfill_plugin.gui import install_dialog
    bar = qgis_iface.messageBar()
    monkeypatch.setattr(install_dialog.deps, "torch_available", lambda: True)
    assert install_dialog.offer_install_if_missing(qgis_iface) is None
    monkeypatch.setattr(install_dialog.deps, "torch_available", lambda: False)
    item = install_dialog.offer_install_if_missing(qgis_iface)
    assert item is not None and bar.currentItem() is item
    from qgis.PyQt.QtWidgets import QPushButton
    buttons = [b for b in item.findChildren(QPushButton) if b.text() == "Install PyTorch..."]
    assert len(buttons) == 1
    opened = []
    monkeypatch.setattr(install_dialog, "show_install_dialog",
                        lambda parent: opened.append(parent) or _Signal())
    buttons[0].click()
    assert opened == [qgis_iface.mainWindow()]
    bar.popWidget(item)


class _Signal:
    class finished_install:  # noqa: N801 (stands in for the dialog's signal)
        @staticmethod
        def connect(slot):
            pass
