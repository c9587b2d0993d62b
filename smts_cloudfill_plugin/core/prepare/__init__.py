"""Preparing a per-date stack from Sentinel-2 products (the Prepare algorithm)."""
