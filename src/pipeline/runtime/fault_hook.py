"""A test-only hook: the fault plan (pipeline/fault_plan.py) over the real bindings in workerd.

Inert unless the Worker's env has `TEST_FAULT_HOOK = "on"`: a test setting the workerd
tests write to `.dev.vars`. wrangler.toml never sets it (tests/deploy checks), and no
request can: it is read from env when the isolate builds its services, and without it
neither the wrappers nor the route exist (a request to the route is the app's 404).

With it on, every binding adapter (D1, R2, the ledger's Durable Object, the queue, the
Images binding, outbound fetch) is under one plan for the isolate, and
- `PUT /__test/faults` with `{"faults": [{"port", "nth", "kind", "method"?}]}` replaces
  the plan (calls are counted from then on);
- `GET /__test/faults` answers the plan, its calls, what fired, and the R2 keys under
  `images/` (a test compares them with the image rows);
- `DELETE /__test/faults` heals every port.
An injected failure is a JS Error, rejected the way a failing binding rejects."""

from __future__ import annotations

import json
from typing import Any

import js

from ..fault_plan import FaultPlan, wrap_ports
from .scope import current
from .values import js_value, unwrap

SETTING = "TEST_FAULT_HOOK"
PATH = "/__test/faults"
MAX_PLAN_BYTES = 64 * 1024


async def _js_error(message: str) -> None:
    # Awaiting a rejected promise raises pyodide's JsException, as a binding's failure does.
    await js.Promise.reject(js.Error.new(message))


_plan = FaultPlan(raise_fault=_js_error)


def enabled(env: Any) -> bool:
    """Whether this Worker's env turns the hook on (a test's `.dev.vars`, nothing else)."""
    return getattr(unwrap(env), SETTING, None) == "on"


def wrapped(ports: dict[str, Any]) -> dict[str, Any]:
    """The binding adapters under the isolate's plan."""
    return wrap_ports(_plan, ports)


def is_route(env: Any, path: str) -> bool:
    return path == PATH and enabled(env)


async def serve(request: Any, images_binding: str = "IMAGES") -> Any:
    """The hook's route (see the module docstring)."""
    method = str(request.method).upper()
    if method == "PUT":
        declared = request.headers.get("content-length")
        if declared is None or not str(declared).isdigit() or int(declared) > MAX_PLAN_BYTES:
            return _answer({"error": f"a plan is a JSON body with Content-Length <= {MAX_PLAN_BYTES}"}, 413)
        try:
            plan = FaultPlan.from_dict(json.loads(await request.text()))
        except ValueError as exc:
            return _answer({"error": str(exc)}, 422)
        _plan.reset(plan.faults)
    elif method == "DELETE":
        _plan.heal()
    elif method != "GET":
        return _answer({"error": "GET, PUT or DELETE"}, 405)
    return _answer({**_plan.to_dict(), "objects": await _image_keys(images_binding)}, 200)


async def _image_keys(name: str) -> list[str]:
    keys: list[str] = []
    cursor = None
    while True:
        options = {"prefix": "images/", "limit": 1000, **({"cursor": cursor} if cursor else {})}
        listed = await current().binding(name).list(js_value(options))
        keys += [str(o.key) for o in listed.objects]
        if not bool(listed.truncated):
            return keys
        cursor = str(listed.cursor)


def _answer(body: dict[str, Any], status: int) -> Any:
    # Imported here: the SDK's module needs the Workers runtime, and this package is also
    # imported by the CPython tests of the adapters (tests/runtime).
    from workers import Response

    return Response(json.dumps(body), status=status, headers={"content-type": "application/json"})
