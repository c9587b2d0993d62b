"""Settings for the whole suite."""
import os

# Opening the shipped sample must not leave GDAL's .aux.xml statistics files beside it.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")
