"""The weights file: one format for the bundled models, trained models and the command line.

A ``.pt`` file holding a dict: ``format``, ``format_version``, ``metadata`` (a JSON string:
architecture, band names, normalisation, training data summary, metrics, software version) and
``state_dict``. It is loaded with ``weights_only=True``, so it can hold no code. A sidecar
``.json`` with the same metadata is written for people and for tools without torch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import ModelConfig, Normalisation
from .errors import CloudFillError
from .model import SmtsVit

FORMAT = "smts-cloudfill-weights"
FORMAT_VERSION = 1
__version__ = "0.1.0"

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # smts_cloudfill_plugin/
_INSTALLED_WEIGHTS = os.path.join(_PKG_DIR, "model_weights")             # installed plugin / zip
#: The bundled weights: inside the installed plugin, else the source checkout's model_weights/.
BUNDLED_DIR = (_INSTALLED_WEIGHTS if os.path.isdir(_INSTALLED_WEIGHTS)
               else os.path.join(os.path.dirname(_PKG_DIR), "model_weights"))


@dataclass
class WeightsInfo:
    """The metadata of a weights file."""

    config: ModelConfig
    normalisation: Normalisation
    extra: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": self.config.to_dict(), "variant": self.config.variant,
                "normalisation": self.normalisation.to_dict(), "software_version": __version__,
                **self.extra}


def bundled_weights_path(uses_sar: bool = True) -> str:
    """Where the plugin keeps its bundled SMTS-ViT (with SAR) or MTS-ViT (without)."""
    return os.path.join(BUNDLED_DIR, "smts_vit.pt" if uses_sar else "mts_vit.pt")


def save_weights(path: str, model: SmtsVit, extra: dict[str, Any] | None = None) -> WeightsInfo:
    """Write the model atomically (temporary file, then rename) plus its ``.json`` sidecar."""
    info = WeightsInfo(model.config, model.normalisation, dict(extra or {}))
    meta = info.to_dict()
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": json.dumps(meta),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.part")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    sidecar = os.path.splitext(path)[0] + ".json"
    with open(sidecar + ".part", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(sidecar + ".part", sidecar)
    info.path = path
    return info


def read_weights_info(path: str) -> tuple[WeightsInfo, dict[str, torch.Tensor]]:
    """Read and check a weights file without building the model."""
    if not os.path.exists(path):
        raise CloudFillError(f"Weights file '{path}' does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise CloudFillError(f"'{path}' is not a readable weights file (damaged or not made by "
                             f"SMTS CloudFill): {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CloudFillError(f"'{path}' is not an SMTS CloudFill weights file.")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CloudFillError(f"'{path}' was written by a newer SMTS CloudFill (format "
                             f"{payload['format_version']}); update the plugin.")
    try:
        meta = json.loads(payload["metadata"])
        config = ModelConfig.from_dict(meta["architecture"])
        norm = Normalisation.from_dict(meta["normalisation"])
    except (KeyError, TypeError, ValueError) as e:
        raise CloudFillError(f"The metadata of '{path}' is incomplete or damaged: {e}") from None
    extra = {k: v for k, v in meta.items()
             if k not in ("architecture", "normalisation", "variant", "software_version")}
    return WeightsInfo(config, norm, extra, path), payload["state_dict"]


def load_model(path: str, device: str | torch.device = "cpu") -> tuple[SmtsVit, WeightsInfo]:
    """Build the model a weights file describes and load its parameters (eval mode)."""
    info, state = read_weights_info(path)
    model = SmtsVit(info.config, info.normalisation)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CloudFillError(f"The parameters in '{path}' do not fit the architecture its "
                             f"metadata describes: {str(e)[:300]}") from None
    return model.to(device).eval(), info


def describe(config: ModelConfig) -> str:
    """'SMTS-ViT: 6 dates x 10 bands (B02, ...) + 5 SAR dates (VV, VH)'."""
    s = f"{config.variant}: {config.msi_dates} dates x {len(config.msi_bands)} bands " \
        f"({', '.join(config.msi_bands)})"
    if config.uses_sar:
        s += f" + {config.sar_dates} SAR dates ({', '.join(config.sar_bands)})"
    return s
