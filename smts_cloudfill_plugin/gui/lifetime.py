"""Whether a Qt object still lives: Python may hold a wrapper whose C++ side Qt has deleted
(a closed dialog's widgets, a removed layer), and touching it crashes QGIS."""
from __future__ import annotations

from qgis.PyQt import sip


def alive(obj) -> bool:
    """False for None and for a Qt object whose C++ side was deleted."""
    return obj is not None and not (isinstance(obj, sip.simplewrapper) and sip.isdeleted(obj))
