"""Reading a per-date stack, and only reading: rasters, cloud masks, dates, value encodings both
ways (stored <-> reflectance and dB), band matching, SAR on the MSI grid, what is missing."""
