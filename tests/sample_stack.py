"""Paths of the shipped real sample (resources/sample), in date order, for every test."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "resources" / "sample"
MSI = sorted(str(p) for p in (SAMPLE / "msi").glob("*.tif"))
SCL = sorted(str(p) for p in (SAMPLE / "scl").glob("*.tif"))
SAR = sorted(str(p) for p in (SAMPLE / "sar").glob("*.tif"))
