"""Issue 22: the plugin's rooms import only downwards: core <- qgis_io <- algorithms <- gui <-
plugin.py, and algorithms/ and gui/ never import each other (the dialogs' wrappers are named by
path, the desktop's hooks handed in by the plugin)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "smts_cloudfill_plugin"
#: What each room may not import (the plugin's own top-level folders only).
FORBIDDEN = {"qgis_io": {"algorithms", "gui"}, "algorithms": {"gui"}, "gui": {"algorithms"}}


def imported_rooms(path: Path) -> set[str]:
    """The plugin's top-level folders and modules ``path`` imports (relative or absolute)."""
    depth = len(path.relative_to(PACKAGE).parts) - 1
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = list(path.relative_to(PACKAGE).parts[:depth - node.level + 1])
                parts += (node.module or "").split(".") if node.module else []
                names = [a.name for a in node.names] if not node.module else []
                rooms.add((parts + names)[0] if parts or names else "")
            elif node.module and node.module.startswith(PACKAGE.name + "."):
                rooms.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE.name + "."):
                    rooms.add(alias.name.split(".")[1])
    return rooms


def test_rooms_import_only_downwards():
    bad = []
    for room, forbidden in FORBIDDEN.items():
        paths = sorted((PACKAGE / room).rglob("*.py"))
        assert paths, room
        for path in paths:
            wrong = imported_rooms(path) & forbidden
            if wrong:
                bad.append(f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}")
    assert not bad, bad


def test_the_checker_sees_an_upward_import(tmp_path):
    assert "gui" in imported_rooms(PACKAGE / "plugin.py")
    assert "qgis_io" in imported_rooms(PACKAGE / "algorithms" / "output_layers.py")


def test_the_widget_paths_the_algorithms_name_are_classes(qgis_processing):
    """The wrappers are named by dotted path (never imported by algorithms/): each must resolve,
    as Processing resolves it when a dialog opens."""
    import importlib

    from smts_cloudfill_plugin.algorithms.dialog_widgets import (DATE_TABLE_WRAPPER,
                                                                 PRODUCT_FILES_WRAPPER)
    for path in (DATE_TABLE_WRAPPER, PRODUCT_FILES_WRAPPER):
        module, name = path.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module), name), type), path
