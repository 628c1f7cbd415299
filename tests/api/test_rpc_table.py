"""The service-binding surface dispatches through one table: entry.Default's RPC methods
each forward their own name to `rpc.call`, and OPERATIONS lists exactly those names."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.api import rpc

ENTRY = Path(__file__).resolve().parents[2] / "src" / "entry.py"


def _forwarding_methods() -> dict[str, str]:
    """{method name: the operation name it passes to `self._rpc`} for entry.Default."""
    tree = ast.parse(ENTRY.read_text())
    default = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Default")
    found = {}
    for method in default.body:
        if not isinstance(method, ast.AsyncFunctionDef):
            continue
        for node in ast.walk(method):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "_rpc"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found[method.name] = node.args[0].value
    return found


def test_every_rpc_method_forwards_its_own_name_to_the_table():
    methods = _forwarding_methods()
    assert len(methods) >= 12
    assert {name: op for name, op in methods.items() if name != op} == {}
    assert set(methods) == set(rpc.OPERATIONS)


def test_the_module_has_no_function_per_operation():
    """Dispatch is `rpc.call(services, name, arg)` over OPERATIONS, nothing generated at import."""
    assert [name for name in rpc.OPERATIONS if hasattr(rpc, name)] == []
    assert "globals()" not in Path(rpc.__file__).read_text()


async def test_an_unknown_name_is_a_not_found_answer(make_services):
    answer = await rpc.call(make_services(), "drop_tables", {})
    assert answer == {"ok": False, "error": answer["error"]} and answer["error"]["code"] == "not_found"
    assert "drop_tables" in answer["error"]["message"]
