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

TORCH_REQUIREMENT = "torch==2.13.0"


def dependency_folder(profile_dir: str | None = None) -> str:
    """The folder for this Python's dependencies inside the QGIS profile."""
    if profile_dir is None:
        from qgis.core import QgsApplication
        profile_dir = QgsApplication.qgisSettingsDirPath()
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    return os.path.join(profile_dir, "python", "smts_cloudfill_deps", tag)


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
