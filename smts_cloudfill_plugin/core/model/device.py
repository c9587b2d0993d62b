"""Choosing where the model runs, and saying why.

Torch is imported on use: the Processing algorithms take :data:`DEVICES` from here for their
Device choice, and they load (offering to install PyTorch) where torch is missing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CloudFillError
from ..progress import Feedback

if TYPE_CHECKING:
    import torch

#: The devices one may ask for, in the order the algorithms offer them ('auto' first: the
#: default).
DEVICES = ("auto", "cpu", "cuda")


def choose_device(requested: str, feedback: Feedback) -> torch.device:
    """'auto' takes CUDA when torch sees a GPU; 'cuda' without one is an error."""
    import torch
    requested = requested.lower()
    if requested not in DEVICES:
        raise CloudFillError(f"Unknown device '{requested}': use one of {', '.join(DEVICES)}.")
    has_cuda = torch.cuda.is_available()
    if requested == "cuda" and not has_cuda:
        raise CloudFillError("CUDA was asked for, but this PyTorch sees no CUDA GPU "
                             f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}).")
    if requested == "cpu" or not has_cuda:
        why = "as asked" if requested == "cpu" else (
            "no CUDA GPU visible to PyTorch" if torch.version.cuda else "PyTorch is a CPU-only build")
        feedback.info(f"Device: CPU ({torch.get_num_threads()} threads; {why}).")
        return torch.device("cpu")
    name = torch.cuda.get_device_name(0)
    feedback.info(f"Device: CUDA, {name} ({'as asked' if requested == 'cuda' else 'found by Auto'}).")
    return torch.device("cuda")
