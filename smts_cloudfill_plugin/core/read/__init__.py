"""Reading a per-date stack: rasters, cloud masks, dates, SAR on the MSI grid."""
