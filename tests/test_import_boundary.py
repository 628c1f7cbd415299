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
    assert len((CORE / "runtime.py").read_text().splitlines()) < 400


def test_modules_stay_small():
    long = {str(p.relative_to(CORE)): n for p in CORE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}
