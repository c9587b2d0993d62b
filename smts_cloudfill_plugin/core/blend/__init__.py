"""Blending: the self-check's choice of fill per date, and window overlaps evened out."""
