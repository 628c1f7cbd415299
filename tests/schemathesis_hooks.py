"""Schemathesis hooks for tests/api/test_openapi_schemathesis.py (loaded via SCHEMATHESIS_HOOKS).

JSON Schema counts 2.0 as an integer; this API does not, on purpose (issue 11: "a float is
not an integer `n`", tests/api/test_hostile_input.py), and no JSON Schema keyword can tell 2.0
from 2. So generated bodies holding a float with no fractional part are left out; every
other value, valid or not, still goes to the server."""

from __future__ import annotations

from typing import Any

import schemathesis


def _has_integral_float(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(_has_integral_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_integral_float(v) for v in value)
    return False


@schemathesis.hook
def filter_body(ctx: Any, body: Any) -> bool:
    return not _has_integral_float(body)
