"""The house's layering, read from the code: no import cycle at any level.

``lint-imports`` (``make test`` runs it before pytest) checks the layer contracts in
``pyproject.toml``; this test scans every first-party import, those inside functions
included, and asserts that the graph has no cycle between packages, sub-packages or
files, so a cycle shows up here with the modules that close it.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("faceio", "facegeom", "faceeval", "facealign", "lightning_modules", "datamodules",
            "training", "tuning", "serving", "commands")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def _collapse(graph: grimp.ImportGraph, depth: int | None) -> dict[str, set[str]]:
    """Edges between module names cut to ``depth`` dotted parts (None: whole names)."""
    def cut(name: str) -> str:
        return name if depth is None else ".".join(name.split(".")[:depth])

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = cut(module), cut(imported)
            if a != b and not b.startswith(a + ".") and not a.startswith(b + "."):
                edges.setdefault(a, set()).add(b)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    nodes = sorted(set(edges) | {b for bs in edges.values() for b in bs})
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("level,depth", [("package", 1), ("sub-package", 2), ("file", None)])
def test_no_import_cycle(graph: grimp.ImportGraph, level: str, depth: int | None) -> None:
    cycles = _cycles(_collapse(graph, depth))
    assert not cycles, f"import cycles between {level}s: {cycles}"


def test_the_core_imports_nothing_above_it(graph: grimp.ImportGraph) -> None:
    above = ("lightning_modules", "datamodules", "training", "tuning", "serving", "commands")
    offenders = sorted(f"{m} -> {i}" for m in graph.find_descendants("facealign")
                       for i in graph.find_modules_directly_imported_by(m) if i.split(".")[0] in above)
    assert not offenders, offenders
