"""The package's architecture, read statically from its source (no import, no QGIS needed).

The layers: core <- algorithms <- gui <- plugin.py (an arrow: "is imported by"). core is the
engine and runs without QGIS; algorithms are the Processing algorithms on top of it; gui the
desktop widgets; plugin.py (and the package's __init__) wires them into QGIS. algorithms and gui
do not import each other in either direction. The package's other top-level modules (paths,
dependencies, ...) are shared support: beside core when they use no QGIS, else just above it.

Every import counts for the layers (a function's lazy import too); module-level imports make
the graph searched for import cycles. Sizes: no function in core over 80 lines (its docstring
not counted), no module over 400 lines. Each failure names the file (line, function) and the
figure.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "smts_cloudfill_plugin"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE
QGIS_ROOTS = ("qgis", "PyQt5", "PyQt6", "sip")

#: Rank of each part of the package: a module may import its own rank or below.
LAYERS = {"core": 0, "algorithms": 2, "gui": 3, "plugin": 4}
SUPPORT, QGIS_SUPPORT = 0, 1   # shared top-level modules: without QGIS, and with it
MAX_FUNCTION_LINES = 80        # in core/
MAX_MODULE_LINES = 400         # anywhere in the package


@dataclass(frozen=True)
class Import:
    """One import statement's target, as seen from the module that makes it."""
    source: str        # the importing module's dotted name
    target: str        # the imported module's dotted name (the package's own, or a top name)
    line: int
    module_level: bool  # runs when the module is imported (not in a function or TYPE_CHECKING)

    def where(self) -> str:
        return f"{relative_path(self.source)}:{self.line}"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def relative_path(module: str) -> str:
    return str(MODULES[module].relative_to(ROOT))


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(source: str, node: ast.ImportFrom) -> str:
    """The absolute dotted name that ``from ... import`` reads from."""
    if not node.level:
        return node.module or ""
    base = source.split(".") if is_package(source) else source.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str) -> str:
    """The package's module that ``name`` lives in (its longest known prefix); other names (the
    standard library, numpy, qgis) as they are."""
    if not name.startswith(PACKAGE + ".") or name in MODULES:
        return name
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str) -> list[Import]:
    """Every import in ``module``, relative ones resolved, names read as submodules if they are."""
    found: list[Import] = []

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, _known(alias.name), child.lineno, module_level))
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(module, child)
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    found.append(Import(module, sub if sub in MODULES else _known(base),
                                        child.lineno, module_level))
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, False)
            else:
                visit(child, module_level)

    visit(ast.parse(MODULES[module].read_text(encoding="utf-8")), True)
    return list(dict.fromkeys(found))   # ``from x import a, b``: one import of x


IMPORTS: dict[str, list[Import]] = {m: imports_of(m) for m in MODULES}


def is_qgis(target: str) -> bool:
    return target.split(".")[0] in QGIS_ROOTS


def part(module: str) -> str:
    """The part of the package a module belongs to: 'core', 'algorithms', 'gui', 'plugin', or
    the name of a top-level support module or package."""
    parts = module.split(".")
    if len(parts) == 1:
        return "plugin"   # the package's __init__: QGIS's entry point (classFactory)
    return parts[1]


def rank(module: str) -> int:
    name = part(module)
    if name in LAYERS:
        return LAYERS[name]
    uses_qgis = any(is_qgis(i.target) for m in MODULES if part(m) == name for i in IMPORTS[m])
    return QGIS_SUPPORT if uses_qgis else SUPPORT


def _internal(imp: Import) -> bool:
    """Whether the import is of one of the package's own modules."""
    return imp.target in MODULES


def test_every_module_is_read():
    assert f"{PACKAGE}.core.reconstruct" in MODULES and f"{PACKAGE}.plugin" in MODULES
    assert any(m.count(".") >= 3 for m in MODULES), "modules in sub-folders of core are read"
    assert sum(len(v) for v in IMPORTS.values()) > 100


def test_core_imports_nothing_of_qgis_or_above_it():
    """The engine runs without QGIS (command line, cluster): nothing in core/ imports QGIS or
    Qt, nor algorithms/, gui/, plugin.py or a support module that uses QGIS."""
    bad = [f"{i.where()} imports {i.target}"
           for m in MODULES if part(m) == "core" for i in IMPORTS[m]
           if is_qgis(i.target) or (_internal(i) and rank(i.target) > LAYERS["core"])]
    assert not bad, "core/ must not import QGIS or the plugin's upper layers:\n" + "\n".join(bad)


def test_algorithms_and_gui_do_not_import_each_other():
    bad = [f"{i.where()} imports {i.target}"
           for m in MODULES if part(m) in ("algorithms", "gui") for i in IMPORTS[m]
           if _internal(i) and {part(m), part(i.target)} == {"algorithms", "gui"}]
    assert not bad, "algorithms/ and gui/ import each other:\n" + "\n".join(bad)


def test_imports_follow_the_layers():
    """core <- algorithms <- gui <- plugin.py: no module imports a layer above its own."""
    bad = [f"{i.where()} ({part(m)}, rank {rank(m)}) imports {i.target} "
           f"({part(i.target)}, rank {rank(i.target)})"
           for m in MODULES for i in IMPORTS[m]
           if _internal(i) and rank(i.target) > rank(m)]
    assert not bad, ("imports against the layers core <- algorithms <- gui <- plugin.py:\n"
                     + "\n".join(bad))


def _cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """One shortest cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph[v]:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            connect(v)
    cycles = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        queue = [start]
        while queue:   # breadth first, back to start: the shortest cycle through it
            v = queue.pop(0)
            if start in graph[v]:
                cycles.append(paths[v] + [start])
                break
            for w in sorted(graph[v]):
                if w in group and w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
    return cycles


def test_the_cycle_search_finds_each_cycle():
    graph = {"a": {"b": 0}, "b": {"c": 0}, "c": {"a": 0, "d": 0}, "d": {"d": 0}, "e": {"a": 0}}
    assert sorted(_cycles(graph)) == [["a", "b", "c", "a"], ["d", "d"]]


def test_no_import_cycles():
    """Module-level imports among the package's modules form no cycle."""
    graph: dict[str, dict[str, Import]] = {m: {} for m in MODULES}
    for m in MODULES:
        for i in IMPORTS[m]:
            if i.module_level and _internal(i) and i.target not in graph[m]:
                graph[m][i.target] = i
    cycles = _cycles(graph)
    lines = [" -> ".join(c) + "  (" + ", ".join(graph[a][b].where() for a, b in zip(c, c[1:]))
             + ")" for c in cycles]
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(lines)


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the function's last line (nested functions included), less its
    docstring: documenting a public function is never a reason to split it."""
    lines = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


def test_no_function_in_core_over_80_lines():
    long = []
    for m, path in MODULES.items():
        if part(m) != "core":
            continue
        for name, node in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            lines = function_lines(node)
            if lines > MAX_FUNCTION_LINES:
                long.append(f"{relative_path(m)}:{node.lineno} {name}() is {lines} lines")
    assert not long, (f"functions in core/ over {MAX_FUNCTION_LINES} lines:\n"
                      + "\n".join(long))


def test_no_module_over_400_lines():
    long = [f"{relative_path(m)} is {n} lines" for m, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)
