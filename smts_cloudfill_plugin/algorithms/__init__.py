"""QGIS Processing glue: thin algorithms over ``core``."""
