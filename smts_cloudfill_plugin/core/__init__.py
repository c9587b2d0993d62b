"""SMTS CloudFill engine: QGIS-free (numpy, torch, GDAL only).

Folders follow the runtime flow, driven by :mod:`.reconstruct`:

- :mod:`.read`: the per-date stack (rasters, cloud masks, dates, encodings both ways, SAR on
  the MSI grid) and the scan of what is missing; :mod:`.fill_checks`: what a stack must pass
  before a fill;
- :mod:`.plan`: model windows over the raster, strips of columns and blocks of windows, the
  groups of dates that one pass fills and their SAR dates;
- :mod:`.model`: the configuration, the SMTS-ViT network, the classical prior, the weights
  file and the device;
- :mod:`.choose`: the candidate fills and the self-check's choice among them per date;
- :mod:`.fill`: the fill pass, the model run over the windows strip by strip and block by
  block on worker threads, feathered (:mod:`.feather`) and handed to the writers;
- :mod:`.write`: outputs on the inputs' grid, the folder lock and the run's log, written
  whole or not at all.

Beside it, :mod:`.training` (training data, losses, training, evaluation, the interpolation
baseline, reports) and :mod:`.prepare` (per-date stacks from Sentinel-2 products).
:mod:`.workers` runs blocks on threads; :mod:`.metrics` (image quality) and
:mod:`.synthetic_clouds` serve training and the self-check alike; :mod:`.errors`,
:mod:`.progress`, :mod:`.gdal_scope` and :mod:`.block_cache` (GDAL's cache held near what a
strip needs) serve everything. Modules are imported on use so that importing this package is
cheap.
"""
from .errors import Cancelled, CloudFillError

__all__ = ["CloudFillError", "Cancelled"]
