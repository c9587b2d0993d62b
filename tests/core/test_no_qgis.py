"""The engine works in a Python where QGIS and PyQt cannot be imported."""
from __future__ import annotations

import subprocess
import sys
import textwrap

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

#: The runtime flow (read -> plan -> model -> choose -> feather -> write, driven by reconstruct)
#: and training, each folder importable on its own.
REQUIRED = {"errors", "progress", "workers", "reconstruct", "__main__",
            "read", "read.raster", "read.stack", "read.clouds", "read.dates", "read.missing",
            "read.encodings", "read.bands", "read.sar",
            "fill_checks", "block_cache", "metrics", "synthetic_clouds", "feather",
            "plan", "plan.windows", "plan.strips", "plan.date_groups",
            "model", "model.config", "model.network", "model.prior", "model.weights",
            "model.device",
            "choose", "choose.candidates", "choose.self_check", "choose.check_report",
            "choose.confidence", "choose.candidate_errors", "choose.date_check",
            "write", "write.raster", "write.strips", "write.output_set", "write.folder_lock",
            "write.run_log", "write.confidence_raster", "write.disk", "write.names",
            "write.thumbnails", "fill", "fill.settings", "fill.batches", "fill.fill_pass",
            "indices", "parcels", "parcels.series", "parcels.index_raster",
            "training", "training.train", "training.data", "training.local", "training.losses",
            "training.evaluate", "training.baseline", "training.report",
            "prepare", "prepare.series", "prepare.products", "prepare.grid", "prepare.sar",
            "prepare.cloud_mask"}


def test_core_imports_without_qgis():
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=str(REPO_ROOT), capture_output=True,
                       text=True, timeout=120, env=SUBPROCESS_ENV)
    assert r.returncode == 0, r.stderr
    modules = next(ln for ln in r.stdout.splitlines() if ln.startswith("MODULES")).split()[1:]
    assert REQUIRED <= set(modules), REQUIRED - set(modules)
    assert "usage: python -m smts_cloudfill_plugin.core" in r.stdout
    assert "--msi" in r.stdout and "--weights" in r.stdout


def test_core_source_never_mentions_qgis_imports():
    paths = sorted((REPO_ROOT / "smts_cloudfill_plugin" / "core").rglob("*.py"))
    assert any(p.parent.name == "parcels" for p in paths), "every folder of core is read"
    for path in paths:
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "qgis" not in stripped and "PyQt" not in stripped, f"{path.name}: {line}"
