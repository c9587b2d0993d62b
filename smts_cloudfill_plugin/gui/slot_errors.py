"""No exception may leave a Qt slot: one escaping a slot aborts QGIS. Slots write it to the
QGIS log instead."""
from __future__ import annotations

import traceback

from qgis.core import Qgis, QgsMessageLog

LOG_TAG = "SMTS CloudFill"


def log_exception(where: str) -> None:
    """Write the current exception to the QGIS log instead of letting it leave a slot."""
    try:
        QgsMessageLog.logMessage(f"{where}: {traceback.format_exc()}", LOG_TAG, Qgis.Warning)
    except Exception:  # noqa: BLE001 (nothing else may escape a slot)
        pass
