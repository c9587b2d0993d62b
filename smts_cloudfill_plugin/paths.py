"""Where the plugin's files lie (the plugin folder, its resources, the bundled weights,
``metadata.txt``) and the plugin's version.

A leaf module: it imports nothing of the plugin, nor QGIS nor torch, so ``plugin.py``, the
algorithms, the GUI and the QGIS-free ``core`` all take their paths from here without an import
circle. Each lookup tries the installed plugin's layout first (files inside the plugin folder:
``scripts/package_plugin.py`` puts them there), then the source checkout's (the same names
beside the package, at the repository root).
"""
from __future__ import annotations

import configparser
import functools
import os

#: The package folder: ``smts_cloudfill_plugin/`` in a checkout, the plugin folder when installed.
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
_SOURCE_ROOT = os.path.dirname(PLUGIN_DIR)


def _plugin_path(*parts: str) -> str:
    """``parts`` inside the installed plugin when there, else at the checkout's root."""
    inside = os.path.join(PLUGIN_DIR, *parts)
    return inside if os.path.exists(inside) else os.path.join(_SOURCE_ROOT, *parts)


def resource_path(*parts: str) -> str:
    """A file under the plugin's resources (inside the installed plugin or the source tree)."""
    return _plugin_path("resources", *parts)


#: The bundled weights folder: inside the installed plugin, else the checkout's model_weights/.
BUNDLED_WEIGHTS_DIR = _plugin_path("model_weights")

#: The plugin's icon (provider, algorithms, toolbar).
ICON_PATH = resource_path("icon.svg")

#: QGIS's description of the plugin, the one place its version is written.
METADATA_PATH = _plugin_path("metadata.txt")


@functools.lru_cache(maxsize=None)
def plugin_version() -> str:
    """``version`` from metadata.txt: what the Plugin Manager shows and weights files record."""
    metadata = configparser.ConfigParser(interpolation=None)
    with open(METADATA_PATH, encoding="utf-8") as f:
        metadata.read_file(f)
    return metadata["general"]["version"]
