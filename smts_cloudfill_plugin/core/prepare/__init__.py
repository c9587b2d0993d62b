"""Preparing a per-date stack from Sentinel-1/2 products (the Prepare algorithm): the output
grid, the Sentinel-2 dates with their cloud masks, the Sentinel-1 dates in dB."""
