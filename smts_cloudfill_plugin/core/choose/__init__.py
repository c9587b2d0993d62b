"""Choosing the fill: the candidate fills of a window (candidates), the self-check's choice among
them per date (self_check, check_report), and the filled pixels' expected error (confidence)."""
