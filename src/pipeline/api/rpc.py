"""The service-binding surface: what `entry.Default`'s RPC methods call.

Each RPC operation is its HTTP route, called in-process through the same ASGI
app: the route IS the one shared function, so validation, shapes, statuses and
errors cannot drift between RPC and HTTP. Adding an operation is one line in
OPERATIONS (and a one-line forwarding method in entry.py, which calls
`call(services, name, arg)`: the table is the only dispatch).

Plain dicts in and out (they cross the RPC boundary as structured clones):
`{"ok": True, "result": ...}` or `{"ok": False, "error": {code, message, ...}}`,
the same error shape the HTTP API sends. The service binding is trusted: its
requests carry TRUSTED in the ASGI scope, which no HTTP client can set."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from .. import errors
from ..services import Services
from .deps import TRUSTED

_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with {name} path parameters, taken from the argument object
    body: bool = False  # the rest of the argument is the JSON body (else the query string)
    needs: str | None = None  # a field the argument must have (edit: images)

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


OPERATIONS: dict[str, Operation] = {
    "generate": Operation("POST", "/v1/generations", body=True),
    "edit": Operation("POST", "/v1/generations", body=True, needs="images"),
    "estimate": Operation("POST", "/v1/estimate", body=True),
    "get_generation": Operation("GET", "/v1/generations/{request_id}"),
    "list_generations": Operation("GET", "/v1/generations"),
    "link": Operation("POST", "/v1/links", body=True),
    "unlink": Operation("DELETE", "/v1/links", body=True),
    "entity_images": Operation("GET", "/v1/entities/{entity_type}/{entity_id}/images"),
    "usage": Operation("GET", "/v1/usage"),
    "get_budget": Operation("GET", "/v1/budget"),
    "put_budget": Operation("PUT", "/v1/budget", body=True),
    "providers": Operation("GET", "/v1/providers"),
}


def _app(services: Services) -> Any:
    app = services.extras.get("rpc_app")
    if app is None:
        from .app import create_app  # here, not at import: app.py is the bigger module

        app = services.extras["rpc_app"] = create_app(services)
    return app


def _split(op: Operation, name: str, arg: Any) -> tuple[str, bytes, bytes]:
    """(path, query string, body) for one call."""
    params = op.params
    if isinstance(arg, str) and len(params) == 1:
        arg = {params[0]: arg}  # `get_generation("gen_…")`
    if arg is None:
        arg = {}
    if not isinstance(arg, dict):
        raise errors.InvalidRequest(f"{name} takes an object argument", details={"field": "payload"})
    rest = dict(arg)
    path = op.path
    for p in params:
        value = rest.pop(p, None)
        if not isinstance(value, str) or not value:
            raise errors.InvalidRequest(f"{name} needs {p!r}", details={"field": p})
        path = path.replace("{" + p + "}", quote(value, safe=""))
    if op.needs and not rest.get(op.needs):
        raise errors.InvalidRequest(f"{name} needs {op.needs!r}", details={"field": op.needs})
    if op.body:
        return path, b"", json.dumps(rest, separators=(",", ":")).encode()
    query = {k: _query_value(v) for k, v in rest.items() if v is not None}
    return path, urlencode(query).encode(), b""


def _query_value(value: Any) -> str:
    # JSON spelling, as an HTTP caller writes it: true/false, not Python's True/False.
    return value if isinstance(value, str) else json.dumps(value)


async def call(services: Services, name: str, arg: Any = None) -> dict[str, Any]:
    """Run operation `name` as its HTTP route would, in-process; `{ok, result | error}`."""
    op = OPERATIONS.get(name)
    if op is None:
        return {"ok": False, "error": errors.NotFound(f"no RPC operation {name!r}").to_dict()}
    try:
        path, query, body = _split(op, name, arg)
    except errors.ImageWorkerError as exc:
        return {"ok": False, "error": exc.to_dict()}
    status, payload = await _asgi(_app(services), op.method, path, query, body)
    if status >= 400:
        return {"ok": False, "error": payload.get("error", {"code": "internal_error", "message": f"HTTP {status}"})}
    return {"ok": True, "result": payload}


async def _asgi(app: Any, method: str, path: str, query: bytes, body: bytes) -> tuple[int, Any]:
    """One request through the app, no socket: (status, decoded JSON body)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "server": ("service-binding", 80), "client": None,
        "headers": [(b"host", b"service-binding"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        TRUSTED: True,
    }
    sent = False
    status = 500
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    raw = b"".join(chunks)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return 500, {"error": errors.ImageWorkerError(f"operation answered HTTP {status} without JSON").to_dict()}
