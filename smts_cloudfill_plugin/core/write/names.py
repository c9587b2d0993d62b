"""The names of what Reconstruct writes beside each cloudy date, in one place: the writer, the
parcel series that reads them back and the dialogs' checks all take them from here."""
from __future__ import annotations

import os
from typing import NamedTuple

#: Suffixes of a filled date's files, after the input's file name without extension.
FILLED_SUFFIX = "_filled"
MASK_SUFFIX = "_filled_mask"
RMSE_SUFFIX = "_filled_rmse"
FILLED_SUFFIXES = (FILLED_SUFFIX, MASK_SUFFIX, RMSE_SUFFIX)
#: Everything a run may write beside a date (the NDVI layers too): never a date of a stack.
OUTPUT_SUFFIXES = (*FILLED_SUFFIXES, "_filled_ndvi")


class FilledPaths(NamedTuple):
    """A date's filled raster, its filled-pixel mask (1 = filled) and its expected error."""

    filled: str
    mask: str
    rmse: str


def filled_paths(msi_path: str, folder: str) -> FilledPaths:
    """``<folder>/<input name>_filled.tif``, ``..._filled_mask.tif``, ``..._filled_rmse.tif``."""
    stem = os.path.splitext(os.path.basename(msi_path))[0]
    return FilledPaths(*(os.path.join(folder, f"{stem}{s}.tif") for s in FILLED_SUFFIXES))

#: Metadata keys of the outputs: the input a file was made from, the model and weights that
#: filled it, the index it holds (the dialogs read them back to pair outputs with inputs).
SOURCE_KEY = "SMTS_SOURCE"
MODEL_KEY = "SMTS_MODEL"
WEIGHTS_KEY = "SMTS_WEIGHTS"
INDEX_KEY = "SMTS_INDEX"

#: The self-check's report, in the output folder.
CHECK_REPORT = "cloudfill_check.html"
#: The run's log (every message, warnings marked, and the summary), in the output folder.
RUN_LOG = "cloudfill_log.txt"
#: Prepare's log (every message, warnings marked, and what it wrote), in its output folder.
PREPARE_LOG = "cloudfill_prepare_log.txt"
