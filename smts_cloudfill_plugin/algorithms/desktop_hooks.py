"""What the algorithms use of the desktop, handed in by the plugin.

``algorithms/`` imports nothing of ``gui/`` (the dialogs build on the algorithms). The plugin
(plugin.py, the top layer) sets these hooks in ``initGui`` and clears them in ``unload``. Under
qgis_process they stay unset and the algorithms work without them: QGIS's own dialog, no offer
of a trained model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class DesktopHooks:
    #: ``(algorithm, parent) -> dialog``: the dialog every way of opening an algorithm asks for
    #: (``createCustomParametersWidget``); None: QGIS's own.
    algorithm_dialog: Callable | None = None
    #: ``(model path, parameters) -> None``: offer a trained model to Reconstruct on the stack
    #: ``parameters`` name; None: no offer.
    offer_trained_model: Callable | None = None


_HOOKS = DesktopHooks()


def desktop_hooks() -> DesktopHooks:
    """The hooks in force (all None outside the desktop)."""
    return _HOOKS


def set_desktop_hooks(hooks: DesktopHooks | None) -> None:
    """Install ``hooks`` (the plugin's initGui); None clears them (its unload)."""
    global _HOOKS
    _HOOKS = hooks if hooks is not None else DesktopHooks()
