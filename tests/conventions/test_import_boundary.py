"""The core never imports the runtime: only the runtime package (src/pipeline/runtime/)
touches js / pyodide / workers, nothing else imports it, and it stays standard-library
(no pydantic, no FastAPI)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "src" / "pipeline"
RUNTIME = CORE / "runtime"
RUNTIME_ONLY = {"js", "pyodide", "workers"}
NEVER_IN_SRC = {"httpx", "requests", "threading"}  # Pyodide: no sockets, no threads


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _in_runtime(path: Path) -> bool:
    return RUNTIME in path.parents


def _imports_runtime(source: str, depth: int) -> bool:
    """An import of pipeline.runtime, absolute or relative, anywhere in a module `depth`
    folders below src/pipeline/."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.startswith("pipeline.runtime") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and (module == "pipeline.runtime" or module.startswith("pipeline.runtime.")
                                    or (module == "pipeline" and any(a.name == "runtime" for a in node.names))):
                return True
            if node.level == depth + 1 and (module.split(".")[0] == "runtime"
                                            or (not module and any(a.name == "runtime" for a in node.names))):
                return True
    return False


def test_only_runtime_touches_the_workers_runtime():
    offenders = {
        str(path.relative_to(CORE)): sorted(imported_roots(path) & (RUNTIME_ONLY | NEVER_IN_SRC))
        for path in CORE.rglob("*.py")
        if not _in_runtime(path) and imported_roots(path) & (RUNTIME_ONLY | NEVER_IN_SRC)
    }
    assert offenders == {}


def test_the_core_never_imports_the_runtime_package():
    seen = [_imports_runtime(text, depth) for text, depth in [
        ("from pipeline import runtime", 1), ("import pipeline.runtime.values", 0), ("from . import runtime", 0),
        ("def f():\n    from ..runtime.scope import current", 1), ("from .runtime_notes import x", 0),
        ("from .. import errors", 1)]]
    assert seen == [True, True, True, True, False, False]  # the check sees every spelling
    offenders = [str(p.relative_to(CORE)) for p in CORE.rglob("*.py")
                 if not _in_runtime(p) and _imports_runtime(p.read_text(), len(p.relative_to(CORE).parts) - 1)]
    assert offenders == []


def test_runtime_stays_small_and_standard_library():
    modules = sorted(RUNTIME.rglob("*.py"))
    assert len(modules) >= 8  # a package, one job per module
    for path in modules:
        assert not imported_roots(path) & {"pydantic", "fastapi", "starlette", "httpx"}, path
        assert len(path.read_text().splitlines()) < 200, path  # well under the 300 of a module's job


def test_modules_stay_small():
    long = {str(p.relative_to(CORE)): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def _routes_and_dependencies() -> list[tuple[Path, ast.FunctionDef | ast.AsyncFunctionDef]]:
    trees = {p: ast.parse(p.read_text(), str(p)) for p in CORE.rglob("*.py")}
    dependencies = {arg.id for tree in trees.values() for node in ast.walk(tree)
                    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Depends"
                    for arg in node.args[:1] if isinstance(arg, ast.Name)}
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            routed = any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
                         and d.func.attr in ("get", "post", "put", "delete", "patch", "head", "api_route")
                         for d in node.decorator_list)
            if routed or node.name in dependencies:
                found.append((path, node))
    return found


def test_routes_and_dependencies_are_async():
    """FastAPI runs a plain `def` route or dependency in a thread, and the Workers runtime
    has none ("can't start new thread"). The SDK's patch that runs them inline covers only
    modules imported at the top level, so the rule is kept regardless."""
    found = _routes_and_dependencies()
    assert len(found) > 20  # the walk sees the routers
    plain = [f"{p.relative_to(CORE)}:{n.lineno} {n.name}" for p, n in found if isinstance(n, ast.FunctionDef)]
    assert plain == []
