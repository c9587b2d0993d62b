"""The weights file: one format for the bundled models, trained models and the command line.

A ``.pt`` file holding a dict: ``format``, ``format_version``, ``metadata`` (a JSON string:
architecture, band names, normalisation, training data summary, metrics, software version) and
``state_dict``. It is loaded with ``weights_only=True``, so it can hold no code. A sidecar
``.json`` with the same metadata is written for people and for tools without torch.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from ...paths import BUNDLED_WEIGHTS_DIR, plugin_version
from .config import ModelConfig, Normalisation
from ..errors import CloudFillError
from ..write.disk import write_failed
from ..write.output_set import write_bytes
from .network import SmtsVit

FORMAT = "smts-cloudfill-weights"
FORMAT_VERSION = 1


@dataclass
class WeightsInfo:
    """The metadata of a weights file."""

    config: ModelConfig
    normalisation: Normalisation
    extra: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"architecture": self.config.to_dict(), "variant": self.config.variant,
                "normalisation": self.normalisation.to_dict(),
                "software_version": plugin_version(), **self.extra}


def bundled_weights_path(uses_sar: bool = True) -> str:
    """Where the plugin keeps its bundled SMTS-ViT (with SAR) or MTS-ViT (without)."""
    return os.path.join(BUNDLED_WEIGHTS_DIR, "smts_vit.pt" if uses_sar else "mts_vit.pt")


def torch_bytes(payload: Any) -> bytes:
    """``payload`` as torch.save writes it, in memory: written to a file after (with
    :func:`..write.output_set.write_bytes`), a full disk is an ``OSError`` that names itself, not
    torch's "enforce fail" text, and no part of the file stays behind."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def save_weights(path: str, model: SmtsVit, extra: dict[str, Any] | None = None,
                 kept: str = "Nothing was written") -> WeightsInfo:
    """Write the model atomically (temporary file, then rename) plus its ``.json`` sidecar; a
    :class:`CloudFillError` naming the file when it cannot be written (``kept`` says what
    stays on disk then)."""
    info = WeightsInfo(model.config, model.normalisation, dict(extra or {}))
    meta = info.to_dict()
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": json.dumps(meta),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as e:
        raise CloudFillError(write_failed(path, e, kept)) from None
    write_bytes(path, torch_bytes(payload), kept)
    write_bytes(os.path.splitext(path)[0] + ".json", json.dumps(meta, indent=1), kept)
    info.path = path
    return info


def read_weights_info(path: str) -> tuple[WeightsInfo, dict[str, torch.Tensor]]:
    """Read and check a weights file without building the model."""
    if not os.path.exists(path):
        raise CloudFillError(f"Weights file '{path}' does not exist.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a damaged file
        raise CloudFillError(_unreadable(path, e)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CloudFillError(f"'{path}' is not an SMTS CloudFill weights file.")
    if payload.get("format_version", 0) > FORMAT_VERSION:
        raise CloudFillError(f"'{path}' was written by a newer SMTS CloudFill (format "
                             f"{payload['format_version']}); update the plugin.")
    try:
        meta = json.loads(payload["metadata"])
        _check_architecture(meta["architecture"])
        config = ModelConfig.from_dict(meta["architecture"])
        norm = Normalisation.from_dict(meta["normalisation"])
        _check_normalisation(norm, config)
    except KeyError as e:
        raise CloudFillError(f"The metadata of '{path}' is incomplete or damaged: it has no "
                             f"{e} entry.") from None
    except (TypeError, ValueError, AttributeError, ZeroDivisionError) as e:
        raise CloudFillError(f"The metadata of '{path}' is incomplete or damaged: "
                             f"{first_sentence(str(e))}") from None
    extra = {k: v for k, v in meta.items()
             if k not in ("architecture", "normalisation", "variant", "software_version")}
    return WeightsInfo(config, norm, extra, path), payload["state_dict"]


def load_model(path: str, device: str | torch.device = "cpu") -> tuple[SmtsVit, WeightsInfo]:
    """Build the model a weights file describes and load its parameters (eval mode)."""
    info, state = read_weights_info(path)
    try:
        # Without our training start (the truncated-normal draws took most of a second): the
        # file's tensors replace every parameter at once.
        model = SmtsVit(info.config, info.normalisation, initialise=False)
    except Exception as e:  # what the checks above could not foresee
        raise CloudFillError(f"The metadata of '{path}' is incomplete or damaged: it describes "
                             f"a model that cannot be built ({type(e).__name__}: "
                             f"{first_sentence(str(e))})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        # torch lists every mismatch on its own line: give the first and count the others.
        lines = [ln.strip() for ln in str(e).splitlines()[1:] if ln.strip()] or [str(e)]
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise CloudFillError(f"The parameters in '{path}' do not fit the architecture its "
                             f"metadata describes: {first_sentence(lines[0], 300)}{more}") \
            from None
    return model.to(device).eval(), info


def _unreadable(path: str, error: Exception) -> str:
    """One message, in whole sentences, for a file torch cannot load with weights_only."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (f"'{path}' holds Python objects ({found.group(1)}), not only tensors: it may be "
                "a whole pickled model or another program's checkpoint. SMTS CloudFill never "
                "runs code from a weights file, so it cannot load this one; use weights written "
                "by SMTS CloudFill (the bundled models or \"Train on local stacks\").")
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)  # torch's own cause
    return (f"'{path}' is not a readable weights file (damaged or not made by SMTS CloudFill): "
            f"{type(error).__name__}: {first_sentence(detail.group(1) if detail else text)}")


def first_sentence(text: str, limit: int = 200) -> str:
    """The first sentence of ``text``'s first line, ending with a full stop, shortened at a
    word if still long (torch's messages run on for several sentences and lines): what a
    message quotes of an error, never cut mid-word."""
    line = " ".join(text.strip().splitlines()[0].split()) if text.strip() else "no details"
    end = line.find(". ")
    if end > 0:
        line = line[:end + 1]
    if len(line) > limit:
        line = line[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
    return line if line.endswith((".", "...")) else line + "."


#: Whole numbers in the architecture that may be 0 (MTS-ViT has no SAR dates); the others
#: must be at least 1 unless their default is 0.
_MAY_BE_ZERO = ("sar_dates",)


def _check_architecture(arch: dict) -> None:
    """Every field of the architecture has the type of its default in :class:`ModelConfig`
    (whole numbers >= 1, positive numbers, true/false, text, lists of band names): a tampered
    file gets a message naming the field, not a ZeroDivisionError or a torch traceback."""
    if not isinstance(arch, dict):
        raise TypeError(f"'architecture' is {arch!r}; it must be a table of fields.")
    for name, spec in ModelConfig.__dataclass_fields__.items():
        if name not in arch:
            continue
        value, default = arch[name], spec.default
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if isinstance(default, bool):
            ok, need = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            low = 0 if name in _MAY_BE_ZERO or default == 0 else 1
            ok = number and isinstance(value, int) and value >= low
            need = f"a whole number of at least {low}"
        elif isinstance(default, float):
            ok = number and math.isfinite(value) and (value > 0 if default > 0 else value >= 0)
            need = "a positive number" if default > 0 else "a number of at least 0"
        elif isinstance(default, str):
            ok, need = isinstance(value, str), "text"
        elif isinstance(default, tuple):
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            need = "a list of band names"
        else:
            continue
        if not ok:
            raise ValueError(f"'{name}' is {value!r}; it must be {need}.")


def _check_normalisation(norm: Normalisation, config: ModelConfig) -> None:
    """One finite mean and one positive standard deviation per band the model reads (SAR
    statistics of a model without SAR are not used)."""
    sar = len(config.sar_bands) if config.uses_sar else 0
    for kind, n, label in (("msi", len(config.msi_bands), "MSI"), ("sar", sar, "SAR")):
        if kind == "sar" and not n:
            continue
        for stat in ("mean", "std"):
            values = getattr(norm, f"{kind}_{stat}")
            if len(values) != n:
                raise ValueError(f"'{kind}_{stat}' has {len(values)} values for {n} {label} "
                                 "bands.")
            if not all(math.isfinite(v) and (v > 0 or stat == "mean") for v in values):
                need = "positive numbers" if stat == "std" else "finite numbers"
                raise ValueError(f"'{kind}_{stat}' is {list(values)}; it must hold {need}.")


def describe(config: ModelConfig) -> str:
    """'SMTS-ViT: 6 dates x 10 bands (B02, ...) + 5 SAR dates (VV, VH)'."""
    s = f"{config.variant}: {config.msi_dates} dates x {len(config.msi_bands)} bands " \
        f"({', '.join(config.msi_bands)})"
    if config.uses_sar:
        s += f" + {config.sar_dates} SAR dates ({', '.join(config.sar_bands)})"
    return s
