"""SMTS CloudFill engine: QGIS-free (numpy, torch, GDAL only).

Folders follow the runtime flow, driven by :mod:`.reconstruct`:

- :mod:`.read`: the per-date stack (rasters, cloud masks, dates, SAR on the MSI grid), the
  checks it must pass before a fill and the scan of what is missing;
- :mod:`.plan`: model windows over the raster, strips of columns and blocks of windows, the
  groups of dates that one pass fills and their SAR dates;
- :mod:`.model`: the configuration, the SMTS-ViT network, the classical prior, the weights
  file and the device;
- :mod:`.blend`: the self-check's choice of fill per date, and overlapping windows blended;
- :mod:`.fill`: the fill pass, the model run over the windows strip by strip and block by
  block on worker threads, blended and handed to the writers;
- :mod:`.write`: outputs on the inputs' grid, the folder lock and the run's log, written
  whole or not at all.

Beside it, :mod:`.training` (training data, losses, training, evaluation, metrics, the
interpolation baseline, reports) and :mod:`.prepare` (per-date stacks from Sentinel-2
products). :mod:`.workers` runs blocks on threads; :mod:`.errors`, :mod:`.progress` and
:mod:`.gdal_scope` serve everything. Modules are imported on use so that importing this
package is cheap.
"""
from .errors import Cancelled, CloudFillError

__all__ = ["CloudFillError", "Cancelled"]
