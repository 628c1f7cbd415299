"""The import graph of src/pipeline has no cycles: every import, at the top of a
module, inside a function or under TYPE_CHECKING, points one way, so a reader can
follow the code from the routes down without meeting a module twice."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
CORE = SRC / "pipeline"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the pipeline modules it imports (`from pkg import mod` counts as pkg.mod)."""
    paths = {_module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in paths and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_is_read_from_the_real_imports():
    graph = import_graph()
    assert "pipeline.errors" in graph["pipeline.generation.attempts"]
    assert "pipeline.generation.calls" in graph["pipeline.generation.attempts"]  # `from . import calls`
    assert "pipeline.providers.base" in graph["pipeline.providers.gemini"]  # relative `from .base import`


def test_a_cycle_is_found_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_src_pipeline_has_no_import_cycles():
    assert find_cycle(import_graph()) is None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The same graph between the packages (and top-level modules) of src/pipeline:
    `pipeline.queued.economy.record` counts as `pipeline.queued`."""
    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(top(module), set()).update(top(t) for t in targets if top(t) != top(module))
    return packages


def test_packages_are_layered_without_cycles():
    """A cycle between packages is invisible module by module (generation/batches.py imported the
    economy lane, which imports generation): queued work sits above generation/, result views and
    URLs in delivery/ above storage/."""
    packages = package_graph(import_graph())
    assert find_cycle(packages) is None
    assert "pipeline.queued" not in packages["pipeline.generation"]
    assert "pipeline.generation" in packages["pipeline.queued"]


def test_every_sql_statement_is_in_storage():
    """D1 is reached through storage/ only (the ledger's own SQLite is the Durable Object's:
    ledger/; runtime/ and local/ implement the Database port itself)."""
    sql = re.compile(r"""["'](SELECT|INSERT|UPDATE|DELETE|WITH)\s""")
    allowed = {"storage", "ledger", "runtime"}
    found = [str(p.relative_to(CORE)) for p in CORE.rglob("*.py")
             if p.relative_to(CORE).parts[0] not in allowed and sql.search(p.read_text())]
    assert found == []
