"""Settings and fixtures for the whole suite (tests/ is on sys.path: its helper modules import
by name)."""
import os

import pytest

from small_model import save_small_model

# Opening the shipped sample must not leave GDAL's .aux.xml statistics files beside it.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")


@pytest.fixture(scope="session")
def small_weights(tmp_path_factory) -> str:
    """A small random-init SMTS-ViT (window 20): fast, and enough to check the plumbing."""
    return save_small_model(tmp_path_factory.mktemp("weights") / "small.pt")
