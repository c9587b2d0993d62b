"""Per-date table for the algorithm dialog (work in progress)."""


def date_table_metadata() -> dict:
    return {}
