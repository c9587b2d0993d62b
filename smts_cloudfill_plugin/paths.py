"""Where the plugin's files lie: the plugin folder, its resources and the bundled weights.

A leaf module: it imports nothing of the plugin, nor QGIS nor torch, so ``plugin.py``, the
algorithms, the GUI and the QGIS-free ``core`` all take their paths from here without an import
circle. Each lookup tries the installed plugin's layout first (files inside the plugin folder),
then the source checkout's (the same names beside the package, at the repository root).
"""
from __future__ import annotations

import os

#: The package folder: ``smts_cloudfill_plugin/`` in a checkout, the plugin folder when installed.
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
_SOURCE_ROOT = os.path.dirname(PLUGIN_DIR)


def resource_path(*parts: str) -> str:
    """A file under the plugin's resources (inside the installed plugin or the source tree)."""
    inside = os.path.join(PLUGIN_DIR, "resources", *parts)
    return inside if os.path.exists(inside) else os.path.join(_SOURCE_ROOT, "resources", *parts)


def _bundled_weights_dir() -> str:
    inside = os.path.join(PLUGIN_DIR, "model_weights")   # installed plugin / zip
    return inside if os.path.isdir(inside) else os.path.join(_SOURCE_ROOT, "model_weights")


#: The bundled weights folder: inside the installed plugin, else the checkout's model_weights/.
BUNDLED_WEIGHTS_DIR = _bundled_weights_dir()

#: The plugin's icon (provider, algorithms, toolbar).
ICON_PATH = resource_path("icon.svg")
