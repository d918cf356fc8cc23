"""archlab's modules form no import cycle (function-level imports included), so a module can be moved or
deleted without untangling another; every module imports."""
from __future__ import annotations

import ast
import importlib

from archlab.workflow.provenance import SRC

PACKAGE = SRC / "archlab"


def _module(path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, name: str, modules: set[str]) -> set[str]:
    """The archlab modules that ``path`` imports anywhere in its body (resolved to modules that exist)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `from . import x` in package a.b is a.b.x
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):  # a package's own __init__
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(files)) for name, path in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_archlab_has_no_import_cycle():
    edges = graph()
    assert "archlab.workflow.runner" in edges and "archlab.workflow.execution.job_server" in edges
    assert cycles(edges) == []


def test_every_archlab_module_imports():
    for name in sorted(graph()):
        if not name.endswith("__main__"):
            importlib.import_module(name)


def test_the_execution_package_is_used_only_by_the_workflow():
    """Deleting the job server or the scheduling change touches only the execution package and the workflow."""
    users = {name for name, targets in graph().items() if any(t.startswith("archlab.workflow.execution.") for t in targets)}
    assert {u for u in users if not u.startswith("archlab.workflow.execution")} == set()
