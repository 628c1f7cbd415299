"""The test suite's own layout: modules in folders by subject, shared fakes and helpers in
tests/fakes/ (a test module never imports another), and each fixture defined once."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.relative_to(TESTS).parts)


def _is_test_module(dotted: str) -> bool:
    return any(part.startswith("test_") for part in dotted.split("."))


def _imports_of_test_modules(tree: ast.AST) -> list[str]:
    """The test modules a module imports, however spelled (absolute, relative, `from pkg import test_x`)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _is_test_module(module):
                found.append(module)
            else:
                found += [f"{module}.{a.name}" if node.module else module + a.name
                          for a in node.names if a.name.startswith("test_")]
    return found


def _fixtures(tree: ast.AST) -> list[str]:
    def is_fixture(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(target, ast.Attribute) and target.attr == "fixture") or getattr(target, "id", "") == "fixture"

    return [node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and any(is_fixture(d) for d in node.decorator_list)]


def test_no_test_module_imports_another():
    offenders = {str(p.relative_to(TESTS)): names for p in _modules()
                 if (names := _imports_of_test_modules(ast.parse(p.read_text(), str(p))))}
    assert offenders == {}, "move shared helpers to tests/fakes/"


def test_the_check_sees_every_spelling_of_such_an_import():
    source = ("from tests.api.test_generations import x\nimport tests.test_ledger\n"
              "from .test_openai import KEY\nfrom . import test_shapes\nfrom tests.ledger import test_leases\n"
              "from tests.fakes.openai import OPENAI_ENV\nimport tests.clocks\n")
    assert _imports_of_test_modules(ast.parse(source)) == [
        "tests.api.test_generations", "tests.test_ledger", ".test_openai", ".test_shapes", "tests.ledger.test_leases"]


def test_test_modules_live_in_folders_by_subject():
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []
    folders = {p.parent for p in TESTS.rglob("test_*.py")}
    assert len(folders) >= 8
    assert [str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").exists()] == []


def test_each_fixture_is_defined_once():
    """Per layer: the CPython suite, and the workerd layer (tests/workerd, its own conftest)."""
    def counts(paths: list[Path]) -> Counter:
        return Counter(name for p in paths for name in _fixtures(ast.parse(p.read_text(), str(p))))

    workerd = [p for p in _modules() if "workerd" in p.relative_to(TESTS).parts]
    cpython = counts([p for p in _modules() if p not in workerd])
    assert {"clock", "ledger", "openai", "make_services", "fake_server"} <= set(cpython)  # the walk sees them
    assert {name: n for name, n in cpython.items() if n > 1} == {}
    assert {name: n for name, n in counts(workerd).items() if n > 1} == {}
