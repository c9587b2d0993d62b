"""The engine works in a Python where QGIS and PyQt cannot be imported: every module of core/
is imported with them blocked. (test_layering.py reads the same rule from the source.)"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from core_helpers import REPO_ROOT, SUBPROCESS_ENV

BLOCKED = ("qgis", "PyQt5", "PyQt6", "sip")

SCRIPT = textwrap.dedent(f"""
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = {BLOCKED!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{{name}} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    try:
        import qgis  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker does not work")

    import smts_cloudfill_plugin.core as core
    prefix = "smts_cloudfill_plugin.core."
    names = sorted(m.name[len(prefix):] for m in pkgutil.walk_packages(core.__path__, prefix))
    for name in names:
        importlib.import_module(prefix + name)
    leaked = sorted(k for k in sys.modules if k.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print("MODULES", " ".join(names))

    from smts_cloudfill_plugin.core.__main__ import main
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0, e.code
    try:
        main(["reconstruct", "--help"])
    except SystemExit as e:
        assert e.code == 0, e.code
""")

CORE = REPO_ROOT / "smts_cloudfill_plugin" / "core"


def core_modules() -> set[str]:
    """Every module of core/, sub-folders included, named as the script prints them."""
    names = set()
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(CORE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            names.add(".".join(parts))
    return names


@pytest.mark.slow
def test_core_imports_without_qgis():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=str(REPO_ROOT), capture_output=True,
                       text=True, timeout=120, env=SUBPROCESS_ENV)
    assert r.returncode == 0, r.stderr
    modules = next(ln for ln in r.stdout.splitlines() if ln.startswith("MODULES")).split()[1:]
    assert any("." in name for name in modules), "modules in sub-folders are imported"
    assert set(modules) == core_modules(), core_modules() ^ set(modules)
    assert "usage: python -m smts_cloudfill_plugin.core" in r.stdout
    assert "--msi" in r.stdout and "--weights" in r.stdout
