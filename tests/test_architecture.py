"""The architecture rules of docs/ARCHITECTURE.md, read off the source.

- no import circles anywhere in ``mlmkit/`` (imports under ``if TYPE_CHECKING:`` excepted: they
  never run), counting function-local imports, which hide circles rather than remove them;
- services never import a private store module (``mlmkit.store.<...>._name``): the store's front
  doors are its contract.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import mlmkit

ROOT = Path(mlmkit.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(node: ast.AST) -> Iterator[str]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for stmt in child.orelse:
                yield from _runtime_imports(stmt)
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
            for alias in child.names:
                full = f"{child.module}.{alias.name}"
                yield full if full in MODULES else child.module
        yield from _runtime_imports(child)


def _graph() -> dict[str, set[str]]:
    return {name: {m for m in _runtime_imports(ast.parse(path.read_text()))
                   if m in MODULES and m != name}
            for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    assert _cycles(_graph()) == []


def test_services_use_only_the_stores_public_modules() -> None:
    offenders = []
    for name, path in MODULES.items():
        if not name.startswith(("mlmkit.services", "mlmkit.ops", "mlmkit.viz")):
            continue
        for imported in _runtime_imports(ast.parse(path.read_text())):
            parts = imported.split(".")
            if parts[:2] == ["mlmkit", "store"] and any(p.startswith("_") for p in parts[2:]):
                offenders.append(f"{name} imports {imported}")
    assert not offenders, "\n".join(offenders)


def test_every_module_reads_in_one_sitting() -> None:
    """No module over 400 lines: a concept that outgrows that becomes a subpackage."""
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > 400}
    assert not long, long


def test_lower_layers_never_reach_up_into_server_client_or_simulation() -> None:
    """server/, client/ and simulation/ sit on top: nothing below imports them (even lazily)."""
    top = ("mlmkit.server", "mlmkit.client", "mlmkit.simulation")
    below = ("mlmkit.analysis", "mlmkit.store", "mlmkit.services", "mlmkit.ops", "mlmkit.viz")
    offenders = [f"{name} imports {imported}"
                 for name, path in MODULES.items() if name.startswith(below)
                 for imported in _runtime_imports(ast.parse(path.read_text()))
                 if imported.startswith(top)]
    assert not offenders, "\n".join(offenders)
