"""SMTS CloudFill engine: QGIS-free (numpy, torch, GDAL only).

Data flow: :mod:`stack_reader` -> :mod:`tiler` -> :mod:`model` -> :mod:`writer`, driven by
:mod:`reconstruct`; :mod:`clouds`, :mod:`baseline`, :mod:`metrics` and :mod:`losses` serve
training and evaluation. Modules are imported on use so that importing this package is cheap.
"""
from .errors import Cancelled, CloudFillError

__all__ = ["CloudFillError", "Cancelled"]
