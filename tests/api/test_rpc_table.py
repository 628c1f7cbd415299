"""The service-binding surface dispatches through one table: `rpc.call(services, name, arg)`
over OPERATIONS (entry.py's methods are made from it: tests/api/test_rpc_surface.py)."""

from __future__ import annotations

from pathlib import Path

from pipeline.api import rpc

def test_the_module_has_no_function_per_operation():
    """Dispatch is `rpc.call(services, name, arg)` over OPERATIONS, nothing generated at import."""
    assert [name for name in rpc.OPERATIONS if hasattr(rpc, name)] == []
    assert "globals()" not in Path(rpc.__file__).read_text()


async def test_an_unknown_name_is_a_not_found_answer(make_services):
    answer = await rpc.call(make_services(), "drop_tables", {})
    assert answer == {"ok": False, "error": answer["error"]} and answer["error"]["code"] == "not_found"
    assert "drop_tables" in answer["error"]["message"]
