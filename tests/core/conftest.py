"""Fixtures for the engine tests live in core_helpers.py (importable by name, unlike conftest)."""
from core_helpers import *  # noqa: F401,F403 (pytest collects the fixtures from here)
