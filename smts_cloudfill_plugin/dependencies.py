"""PyTorch outside the plugin folder: where it lives, whether it is there, how to install it.

The Plugin Manager deletes the plugin folder on every upgrade, so dependencies go into a folder
of the QGIS profile, one per Python version: ``<profile>/python/smts_cloudfill_deps/py311``.
It is *prepended* to ``sys.path`` (Debian's older sympy would otherwise shadow torch's), which
is safe because it never holds numpy, PyQt5 or GDAL. The desktop and qgis_process share it.
"""
from __future__ import annotations

import importlib.util
import os
import sys

#: The one PyTorch pin: the plugin installs it for QGIS, and the Makefile's setup reads this line
#: (keep it one plain string) to install the same torch for the tests.
TORCH_REQUIREMENT = "torch==2.13.0"


def dependency_folder(profile_dir: str | None = None) -> str:
    """The folder for this Python's dependencies inside the QGIS profile."""
    if profile_dir is None:
        from qgis.core import QgsApplication
        profile_dir = QgsApplication.qgisSettingsDirPath()
    return os.path.join(profile_dir, "python", "smts_cloudfill_deps", python_tag())


def add_dependency_folder(folder: str | None = None) -> str | None:
    """Put the dependency folder first on ``sys.path`` when it exists; return it."""
    try:
        folder = folder or dependency_folder()
    except Exception:  # no QGIS application (plain Python): nothing to add
        return None
    if os.path.isdir(folder) and folder not in sys.path:
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
    return folder


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def missing_message() -> str:
    return ("PyTorch is not installed for QGIS's Python, so SMTS CloudFill cannot run its model. "
            "Install it from the plugin's toolbar (Install PyTorch...) or run `make install`; "
            f"it goes into {_folder_or_profile()}.")


def _folder_or_profile() -> str:
    try:
        return dependency_folder()
    except Exception:
        return "<QGIS profile>/python/smts_cloudfill_deps"


# --- Installing PyTorch ------------------------------------------------------------------------
# Plain Python (no QGIS) so that scripts/install_plugin.py, the install dialog and the tests build
# the same pip command. Modelled on Geo-SAM's tools/plugin_settings.py: the real interpreter,
# ``--target``, ``--only-binary`` and a constraints file pinning QGIS's own numpy.

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CONSTRAINTS_NAME = "constraints-{tag}.txt"


def python_tag() -> str:
    """``py311`` for Python 3.11: the dependency folder's name (compiled wheels are per version)."""
    return f"py{sys.version_info.major}{sys.version_info.minor}"


def _is_python(path: str) -> bool:
    name = os.path.basename(path or "").lower()
    return name.startswith("python") and not name.startswith("pythonw") and os.path.isfile(path)


def real_python() -> str:
    """The Python interpreter that runs QGIS's Python, usable as ``<python> -m pip``.

    ``sys.executable`` is QGIS itself in the Windows and macOS builds (and may be ``qgis`` or empty
    when Python is embedded on Linux); the interpreter then lives under ``sys.exec_prefix``.
    """
    if _is_python(sys.executable):
        return sys.executable
    ver = f"{sys.version_info.major}.{sys.version_info.minor}"
    prefixes = [sys.exec_prefix, sys.base_exec_prefix]
    if sys.platform == "win32":
        names = ["python.exe", os.path.join("bin", "python.exe"), f"python{ver.replace('.', '')}.exe"]
    else:
        names = [os.path.join("bin", f"python{ver}"), os.path.join("bin", "python3"),
                 os.path.join("bin", "python")]
    for prefix in prefixes:
        for name in names:
            candidate = os.path.join(prefix, name)
            if os.path.isfile(candidate):
                return candidate
    return "python.exe" if sys.platform == "win32" else "python3"


def numpy_version() -> str | None:
    """The version of QGIS's own numpy (never replaced), or None when there is none."""
    try:
        from importlib.metadata import version
        return version("numpy")
    except Exception:
        pass
    try:
        import numpy
        return numpy.__version__
    except Exception:
        return None


def write_constraints(folder: str) -> str:
    """Write the pip constraints file next to ``folder``; return its path.

    It pins the numpy that QGIS already has, so pip never installs its own numpy into the
    dependency folder (which is first on ``sys.path`` and would shadow QGIS's numpy, breaking
    GDAL's and QGIS's compiled extensions).
    """
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    path = os.path.join(parent, CONSTRAINTS_NAME.format(tag=python_tag()))
    npv = numpy_version()
    lines = ["# Written by SMTS CloudFill: keep QGIS's own numpy.",
             f"numpy=={npv}" if npv else "# (no numpy found for this Python)"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def pip_install_command(folder: str, cuda: bool = False, python: str | None = None) -> list[str]:
    """The pip command installing ``TORCH_REQUIREMENT`` into ``folder`` (writes the constraints).

    ``cuda=False`` on Linux adds PyTorch's CPU index as an *extra* index: PyPI's Linux wheel is
    the CUDA build (GBs of nvidia packages), the ``+cpu`` wheel sorts above it, and pip's own
    configuration (find-links, other indexes) still applies. On Windows and macOS PyPI's wheel
    is already CPU-only. ``cuda=True`` takes PyPI's default wheel (CUDA on Linux).
    """
    cmd = [python or real_python(), "-m", "pip", "install", "--target", folder, "--upgrade",
           "--only-binary=:all:", "--disable-pip-version-check", "--no-warn-script-location",
           "--constraint", write_constraints(folder)]
    if not cuda and sys.platform.startswith("linux"):
        cmd += ["--extra-index-url", TORCH_CPU_INDEX]
    return cmd + [TORCH_REQUIREMENT]


def verify_command(folder: str, python: str | None = None) -> list[str]:
    """A command printing the version and file of the torch imported with ``folder`` first."""
    code = ("import sys; sys.path.insert(0, %r); import torch; "
            "print(torch.__version__); print(torch.__file__)" % folder)
    return [python or real_python(), "-c", code]


def parse_verify_output(stdout: str) -> tuple[str, str] | None:
    """(version, file) from the last two lines of ``verify_command``'s output."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    return (lines[-2], lines[-1]) if len(lines) >= 2 else None


def verify_torch(folder: str, python: str | None = None,
                 timeout: float = 300) -> tuple[str, str] | None:
    """Import torch in a fresh interpreter with ``folder`` first; (version, file) or None."""
    import subprocess
    try:
        done = subprocess.run(verify_command(folder, python), capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_verify_output(done.stdout) if done.returncode == 0 else None


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` (by the path as given: symlinked packages count)."""
    folder = os.path.abspath(folder)
    return os.path.abspath(path).startswith(folder + os.sep)


def torch_in_folder(folder: str, python: str | None = None) -> str | None:
    """The torch version that the folder itself provides (not a system-wide torch), or None."""
    if not os.path.isdir(os.path.join(folder, "torch")):
        return None
    found = verify_torch(folder, python)
    return found[0] if found and is_inside(found[1], folder) else None


def installed_torch_version() -> str | None:
    """The version of the torch this Python would import, without importing it (cheap)."""
    if "torch" in sys.modules:
        return getattr(sys.modules["torch"], "__version__", "unknown")
    if not torch_available():
        return None
    try:
        from importlib.metadata import version
        return version("torch")
    except Exception:
        return "unknown"
