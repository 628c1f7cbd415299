"""The RPC surface is the HTTP surface: one table (pipeline.api.rpc.OPERATIONS) names every
operation of the OpenAPI document, entry.py makes a method of each, and the TypeScript types
(types/index.d.ts, checked in tests/test_rpc_contract.py) declare each."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.api import rpc
from pipeline.api.app import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_the_table_and_the_openapi_document_name_the_same_operations():
    doc = create_app().openapi()
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    table = {(op.method, op.path) for op in rpc.OPERATIONS.values()}
    assert documented - table == set(), "add these routes to rpc.OPERATIONS"
    assert table - documented == set(), "these RPC operations have no route"


def test_body_kinds_follow_the_document():
    doc = create_app().openapi()
    for name, op in rpc.OPERATIONS.items():
        operation = doc["paths"][op.path][op.method.lower()]
        content = operation.get("requestBody", {}).get("content", {})
        expected = None if not content else ("json" if "application/json" in content else "bytes")
        assert op.body == expected, name


def test_entry_makes_a_method_of_every_operation_of_the_table():
    """entry.py cannot be imported under CPython (it needs `workers`): read it. The workerd
    layer calls every method through a JS Worker (tests/workerd/test_rpc.py)."""
    tree = ast.parse((ROOT / "src" / "entry.py").read_text())
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For) and ast.unparse(n.iter) == "rpc.OPERATIONS"]
    assert len(loops) == 1 and "setattr(Default" in ast.unparse(loops[0].body[0])
    types = (ROOT / "types" / "index.d.ts").read_text()
    assert all(f"  {name}(" in types for name in rpc.OPERATIONS)
