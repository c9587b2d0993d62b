"""Parameter metadata naming the dialog widgets, without importing Qt or Processing's GUI.

qgis_process builds the algorithms too, but never their widgets: the wrapper class is named by
its dotted path and imported only when a dialog opens.
"""


def date_table_metadata(role: str = "msi") -> dict:
    """Metadata that puts the per-date table (``role='msi'``) or its linked view in the dialog."""
    return {"widget_wrapper": {"class": f"{__package__}.date_table.StackTableWrapper", "role": role}}
