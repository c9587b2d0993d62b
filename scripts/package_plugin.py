#!/usr/bin/env python3
"""Build dist/smts_cloudfill_plugin.zip, the zip that QGIS's Plugin Manager installs.

One top folder ``smts_cloudfill_plugin/`` holding the package's code, ``metadata.txt`` (kept at
the repository root), the bundled model (``model_weights/``), ``resources/`` (icon, sample
stack; not the screenshots) and LICENSE. No tests, no ``__pycache__``, no ``.pyc``.

``plugin_files`` is the one list of what the plugin is made of: ``install_plugin.py`` copies the
same files into a QGIS profile.

Usage: python scripts/package_plugin.py [--out dist/smts_cloudfill_plugin.zip] [--max-mb 25]
"""
from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "smts_cloudfill_plugin"
MAX_MB = 25.0

SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", "tests", "screenshots"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".part", ".ckpt", ".orig", ".rej", "~", ".aux.xml")  # .aux.xml: GDAL caches
WEIGHT_SUFFIXES = (".pt", ".json")
#: The models the plugin uses; S-ViT (ablation only) and evaluation files stay in the repository.
SHIPPED_MODELS = ("smts_vit", "mts_vit")
WEIGHT_NAMES = ("MODEL_CARD.md",)


def _skip(name: str) -> bool:
    return name.startswith(".") or name.endswith(SKIP_SUFFIXES)


def _walk(folder: Path):
    """Files under ``folder`` in a stable order, without caches, hidden files and tests."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(files):
            if not _skip(name):
                yield Path(root) / name


def plugin_files(repo_root: Path | str = REPO_ROOT) -> list[tuple[Path, str]]:
    """(source file, path inside the plugin folder) for every file of the installed plugin."""
    root = Path(repo_root)
    package = root / PLUGIN
    files = [(src, src.relative_to(package).as_posix()) for src in _walk(package)]
    files.append((root / "metadata.txt", "metadata.txt"))
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md"):
        if (root / name).is_file():
            files.append((root / name, name))
    weights = root / "model_weights"
    if weights.is_dir():
        for src in sorted(weights.iterdir()):
            if src.is_file() and not _skip(src.name) and (
                    (src.suffix in WEIGHT_SUFFIXES and src.stem in SHIPPED_MODELS)
                    or src.name in WEIGHT_NAMES):
                files.append((src, f"model_weights/{src.name}"))
    resources = root / "resources"
    if resources.is_dir():  # icon.svg, sample/ and any style files; screenshots/ is skipped
        files += [(src, "resources/" + src.relative_to(resources).as_posix())
                  for src in _walk(resources)]
    missing = [str(src) for src, _ in files if not src.is_file()]
    if missing:
        raise FileNotFoundError(f"missing plugin files: {missing}")
    names = [name for _, name in files]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"two sources for {duplicates}")
    return files


def build_zip(out: Path | str, repo_root: Path | str = REPO_ROOT) -> Path:
    """Write the zip (atomically) and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for src, name in plugin_files(repo_root):
            zf.write(src, f"{PLUGIN}/{name}")
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO_ROOT / "dist" / f"{PLUGIN}.zip"))
    parser.add_argument("--max-mb", type=float, default=MAX_MB,
                        help="fail when the zip is larger (QGIS's plugin repository limit)")
    args = parser.parse_args(argv)
    out = build_zip(args.out)
    size_mb = out.stat().st_size / 1e6
    with zipfile.ZipFile(out) as zf:
        count = len(zf.namelist())
    print(f"{out}: {size_mb:.2f} MB, {count} files")
    if size_mb > args.max_mb:
        print(f"error: the zip is over {args.max_mb:g} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
