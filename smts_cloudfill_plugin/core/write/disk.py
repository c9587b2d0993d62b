"""Refusing, before anything is written, outputs that would not fit on the disk; and saying so
clearly when a write fails all the same (a disk filled by something else, a file size limit)."""
from __future__ import annotations

import shutil

from ..errors import CloudFillError


#: Compressed GeoTIFF output is estimated at this share of its uncompressed size (DEFLATE with a
#: predictor usually does better on Sentinel-2 reflectance; the filled-pixel masks far better).
COMPRESSED_SHARE = 0.6


def output_bytes(width: int, height: int, bands: int, itemsize: int, dates: int) -> int:
    """Uncompressed size of the filled rasters and their one-byte masks for ``dates`` dates."""
    return dates * width * height * (bands * itemsize + 1)


def check_disk_space(folder: str, width: int, height: int, bands: int, itemsize: int,
                     dates: int) -> None:
    """Refuse, before anything is written, a run whose outputs would not fit on the disk."""
    raw = output_bytes(width, height, bands, itemsize, dates)
    need = COMPRESSED_SHARE * raw
    free = shutil.disk_usage(folder).free
    if need > free:
        raise CloudFillError(
            f"The output for {dates} cloudy date{'s' if dates != 1 else ''} of {width} x {height} "
            f"px needs about {file_size(need)} ({int(COMPRESSED_SHARE * 100)} % of the "
            f"{file_size(raw)} uncompressed; DEFLATE compression usually saves that much), but "
            f"only {file_size(free)} are free in '{folder}'. Free some space or choose another "
            "output folder.")


def file_size(n: float) -> str:
    """Bytes in the unit that shows them, one decimal below 100: '13.2 MB', not '0.01 GB';
    '500 kB', not '0.00 GB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} bytes"


def write_failed(path: str, error: BaseException | str,
                 kept: str = "Nothing was written") -> str:
    """The message for a file that could not be written (disk full, file too large, no
    permission): the file, the system's reason (its first line, not a traceback) and the fix;
    ``kept`` says what stays on disk."""
    text = str(error).strip()
    reason = getattr(error, "strerror", None) or (text.splitlines()[0] if text else "unknown error")
    return (f"Cannot write '{path}' ({reason}). {kept}: free some space on that disk (or choose "
            "another folder) and run again.")
