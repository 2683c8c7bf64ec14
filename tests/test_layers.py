"""Imports point downwards only: the layer rules, and no import cycle among popbt's modules.

The imports are read from the source with `ast` (nothing is imported), at three depths:
- "module": executed when the module is imported (top level, also inside `try`/`if` there);
- "function": inside a function or method body, executed when it is called (lazy imports);
- "typing": under `if TYPE_CHECKING:`, never executed; only type checkers follow it.

Decisions:
- The layer rules count every import, `TYPE_CHECKING` ones included: a lower layer that names
  an upper layer's types in its signatures depends on that layer all the same.
- The cycle checks leave `TYPE_CHECKING` imports out (they never run, so they cannot form a
  circle at runtime). Module-level imports must form no cycle at all; lazy (function-level)
  imports may only close a cycle through a module listed in `LAZY_CYCLES_ALLOWED`, each with
  its reason (today: none).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "popbt"

# (importer, imported) -> why the imported layer is out of bounds for the importer. A name
# matches that module and everything under it ("popbt.storage" covers popbt.storage.sql).
RULES: dict[tuple[str, str], str] = {
    **{("popbt.strategies", upper): "strategies are pure functions of plain data, shared by the "
                                    "worker loop and the vectorized trainer"
       for upper in ("popbt.storage", "popbt.checkpoints", "popbt.worker", "popbt.population",
                     "popbt._population", "popbt.executors")},
    **{("popbt.storage", upper): "a storage applies decisions and keeps records; it knows "
                                 "nothing of who trains, starts workers or reads the records"
       for upper in ("popbt.population", "popbt._population", "popbt.worker",
                     "popbt.executors", "popbt.report", "popbt.cli")},
    **{(lower, upper): "the population is typed to the executor contract (popbt._execution) "
                       "and never knows an executor, a report or the CLI"
       for lower in ("popbt.population", "popbt._population", "popbt._execution",
                     "popbt._training", "popbt._watch", "popbt._progress")
       for upper in ("popbt.executors", "popbt.report", "popbt.cli")},
    **{("popbt.executors", upper): "an executor is given a plain Work, not a Population; its "
                                   "workers open the storage by URL"
       for upper in ("popbt.population", "popbt._population")},
    **{("popbt.loggers", upper): "a logger is a callback: the run hands it the records"
       for upper in ("popbt.storage", "popbt.worker", "popbt.executors", "popbt.report",
                     "popbt.cli")},
}

# Modules through which a lazy (function-level) import may close a cycle, with the reason.
LAZY_CYCLES_ALLOWED: dict[str, str] = {}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    depth: str  # "module", "function" or "typing"
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.depth}, line {self.line})"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The popbt modules an import statement loads (`from pkg import sub` loads pkg.sub)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    base = _resolve(module, is_package, node)
    yield base
    for alias in node.names:
        if f"{base}.{alias.name}" in MODULES:
            yield f"{base}.{alias.name}"


def _imports_of(module: str, path: Path) -> Iterator[Import]:
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    def visit(node: ast.AST, depth: str) -> Iterator[Import]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(module, is_package, node):
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    yield Import(module, target, depth, node.lineno)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, "typing")
            for child in node.orelse:
                yield from visit(child, depth)
            return
        inner = "function" if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                          | ast.Lambda) and depth == "module" else depth
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)

    yield from visit(tree, "module")


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports_of(module, path)]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations() -> list[str]:
    return [f"{imp}: {reason}" for imp in IMPORTS for (lower, upper), reason in RULES.items()
            if _under(imp.importer, lower) and _under(imp.imported, upper)]


def _graph(depths: set[str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        # a module's own packages are being imported already when it runs: no edge to them
        if imp.depth in depths and imp.imported in MODULES \
                and not _under(imp.importer, imp.imported):
            graph[imp.importer].add(imp.imported)
            # importing popbt.a.b runs popbt/__init__ and popbt/a/__init__ first
            parts = imp.imported.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in MODULES and not _under(imp.importer, parent):
                    graph[imp.importer].add(parent)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def test_the_scanner_sees_every_kind_of_import():
    """A guard on the test itself: imports at each depth, relative ones included, are seen."""
    seen = {(imp.importer, imp.imported, imp.depth) for imp in IMPORTS}
    assert ("popbt", "popbt.population", "typing") in seen
    assert ("popbt._progress", "popbt.population", "typing") in seen
    assert any(imp.depth == "function" for imp in IMPORTS)
    assert len(MODULES) > 30


def test_imports_point_downwards():
    found = violations()
    assert not found, "forbidden imports:\n" + "\n".join(found)


def test_no_import_cycle_at_module_level():
    found = cycles(_graph({"module"}))
    assert not found, f"module-level import cycles: {found}"


def test_no_import_cycle_with_lazy_imports():
    """Function-level imports run as well, only later: they must not close a circle either,
    except through a module allowed (with its reason) in `LAZY_CYCLES_ALLOWED`."""
    graph = _graph({"module", "function"})
    for module in LAZY_CYCLES_ALLOWED:
        graph[module] = {m for m in graph[module]
                         if m in MODULES and not _lazy_only(module, m)}
    found = cycles(graph)
    assert not found, f"import cycles through lazy imports: {found}"


def _lazy_only(importer: str, imported: str) -> bool:
    depths = {imp.depth for imp in IMPORTS if imp.importer == importer
              and imp.imported == imported}
    return depths <= {"function", "typing"}


@pytest.mark.parametrize(("source", "expected"), [
    ("import popbt.storage.sql\n", [("popbt.storage.sql", "module")]),
    ("from popbt import worker\n", [("popbt", "module"), ("popbt.worker", "module")]),
    ("def f():\n    from popbt.worker import Worker\n", [("popbt.worker", "function")]),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import popbt.cli\n",
     [("popbt.cli", "typing")]),
])
def test_the_scanner_classifies_depths(tmp_path: Path, source: str,
                                       expected: list[tuple[str, str]]):
    path = tmp_path / "probe.py"
    path.write_text(source)
    got = [(imp.imported, imp.depth) for imp in _imports_of("popbt.strategies.probe", path)]
    assert got == expected
