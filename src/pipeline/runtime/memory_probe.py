"""A test-only route: the isolate's WebAssembly memory and its byte budget, read inside workerd.

Inert unless the Worker's env has `TEST_MEMORY_PROBE = "on"`: a test setting the workerd
tests and `bench/run --isolate` write to `.dev.vars`. wrangler.toml never sets it
(tests/deploy and tests/memory check), the settings never carry it, and no request can
turn it on: it is read from env, and without it the route does not exist (a request
to it is the app's 404).

`GET /__test/memory` answers, after a full GC:
- `wasm_bytes`: Pyodide's WebAssembly memory (`HEAPU8.length`), what production counts
  against the isolate's 128 MB with the JS heap; it grows and never shrinks, so it is
  the isolate's peak so far;
- `budget`: the isolate's byte budget (memory/byte_budget.py): capacity, held, peak,
  waits and refusals."""

from __future__ import annotations

import gc
import json
from typing import Any

from .values import unwrap

SETTING = "TEST_MEMORY_PROBE"
PATH = "/__test/memory"


def enabled(env: Any) -> bool:
    """Whether this Worker's env turns the probe on (a test's `.dev.vars`, nothing else)."""
    return getattr(unwrap(env), SETTING, None) == "on"


def is_route(env: Any, path: str) -> bool:
    return path == PATH and enabled(env)


def wasm_bytes() -> int:
    import pyodide_js  # only inside workerd

    return int(pyodide_js._module.HEAPU8.length)


def serve(request: Any, services: Any) -> Any:
    from workers import Response  # the SDK needs the Workers runtime

    if str(request.method).upper() != "GET":
        return Response(json.dumps({"error": "GET only"}), status=405, headers={"content-type": "application/json"})
    gc.collect()
    body = {"wasm_bytes": wasm_bytes(), "budget": services.memory.view()}
    return Response(json.dumps(body), status=200, headers={"content-type": "application/json"})
