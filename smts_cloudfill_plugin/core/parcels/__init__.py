"""Parcels: each parcel's season from the per-date rasters and their fills."""
