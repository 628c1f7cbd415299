"""Values across the JS boundary, converted once, both ways.

The Workers SDK wraps env in Python wrappers that convert values themselves
(results arrive as memoryviews and JsDicts, arguments become borrowed proxies when
handed to `to_js`). So a binding is unwrapped once (`unwrap`) and every value is
converted here: `js_value` (None → null, dicts → plain objects, bytes → Uint8Array)
and `py_value` (JsProxy → Python, `jsnull`/undefined → None, buffers → bytes)."""

from __future__ import annotations

from typing import Any

import js
# Pyodide 314 hands JS null over as `jsnull`, distinct from None (undefined).
from pyodide.ffi import JsProxy, jsnull, to_js  # type: ignore[attr-defined]  # jsnull: newer than the pyodide-py stubs

NULL = js.JSON.parse("null")


def unwrap(obj: Any) -> Any:
    """The JS object under an SDK wrapper (`_EnvWrapper`, `_BindingWrapper`, contexts)."""
    if obj is None or isinstance(obj, JsProxy):
        return obj
    fields = getattr(obj, "__dict__", {})
    for attr in ("_env", "_binding", "_ctx"):
        if fields.get(attr) is not None:
            return fields[attr]
    return obj


def is_null(value: Any) -> bool:
    """JS null or undefined, however it arrives (None, `jsnull`, our own null, an undefined proxy)."""
    return value is None or value is jsnull or value is NULL or getattr(value, "typeof", "") == "undefined"


def _clean(value: Any) -> Any:
    """Python values from `to_py` with JS null/undefined as None and buffers as bytes."""
    if is_null(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    return value


def py_value(value: Any) -> Any:
    """JS → Python, once, at the boundary."""
    if is_null(value):
        return None
    if hasattr(value, "to_py"):
        value = value.to_py()
    return _clean(value)


def as_bytes(value: Any) -> bytes:
    """An ArrayBuffer / typed array / buffer as bytes (the SDK may already have made a memoryview)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return value.to_bytes()


def _nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulls(v) for v in value]
    return NULL if value is None else value


def js_value(value: Any) -> Any:
    """Python → JS: dicts as plain objects, None as null (to_js would make it undefined)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return NULL if value is None else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return to_js(bytes(value))
    return to_js(_nulls(value), dict_converter=js.Object.fromEntries)


def sql_param(value: Any) -> Any:
    """A SQL bind parameter (D1, Durable Object SQLite): None as null, bools as 0/1, bytes as a Uint8Array."""
    if isinstance(value, bool):
        return int(value)
    return js_value(value) if value is None or isinstance(value, (bytes, bytearray, memoryview)) else value
