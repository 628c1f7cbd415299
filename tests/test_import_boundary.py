"""The core never imports the runtime: only runtime.py touches js / pyodide / workers,
and runtime.py stays standard-library (no pydantic, no FastAPI)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "src" / "pipeline"
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


def test_only_runtime_touches_the_workers_runtime():
    offenders = {
        str(path.relative_to(CORE)): sorted(imported_roots(path) & (RUNTIME_ONLY | NEVER_IN_SRC))
        for path in CORE.rglob("*.py")
        if path.name != "runtime.py" and imported_roots(path) & (RUNTIME_ONLY | NEVER_IN_SRC)
    }
    assert offenders == {}


def test_runtime_stays_small_and_standard_library():
    roots = imported_roots(CORE / "runtime.py")
    assert not roots & {"pydantic", "fastapi", "starlette", "httpx"}
    assert _lines(CORE / "runtime.py") < 450  # the limit of every module


# Issue 18's Images-binding adapter waits at the end of runtime.py, in its own delimited
# section, for the runtime/ package split to give it a module of its own: not counted until then.
_PENDING_MOVE = "# --- Images binding (delivery) ---"


def _lines(path: Path) -> int:
    text = path.read_text()
    if path.name == "runtime.py":
        text = text.split(_PENDING_MOVE, 1)[0]
    return len(text.splitlines())


def test_modules_stay_small():
    long = {str(p.relative_to(CORE)): n for p in CORE.rglob("*.py") if (n := _lines(p)) > 450}
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
