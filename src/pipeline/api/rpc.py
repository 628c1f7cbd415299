"""The service-binding surface: what `entry.Default`'s RPC methods call.

Each RPC operation is its HTTP route, called in-process through the same ASGI
app: the route IS the one shared function, so validation, shapes, statuses and
errors cannot drift between RPC and HTTP. Adding an operation is one line in
OPERATIONS: entry.py makes a method of the entrypoint for each.

Plain dicts in and out (they cross the RPC boundary as structured clones):
`{"ok": True, "result": ...}` or `{"ok": False, "error": {code, message, ...}}`,
the same error shape the HTTP API sends. The service binding is trusted: its
requests carry TRUSTED in the ASGI scope, which no HTTP client can set."""

from __future__ import annotations

import base64
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
    body: str | None = None  # "json": the rest of the argument is the JSON body; "bytes": see `_split`
    needs: str | None = None  # a field the argument must have (edit: images)
    query: tuple[str, ...] = ()  # for a body operation: fields sent in the query string instead
    result: str = "json"  # what the route answers: "json", "bytes" (an image), "events" (a stream)

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


J = "json"
# Every HTTP operation of the OpenAPI document, by RPC name (tests/api/test_rpc_surface.py keeps
# this table, the document, entry.py's methods and types/index.d.ts the same).
OPERATIONS: dict[str, Operation] = {
    # generations
    "generate": Operation("POST", "/v1/generations", J),
    "edit": Operation("POST", "/v1/generations", J, needs="images"),
    "list_generations": Operation("GET", "/v1/generations"),
    "get_generation": Operation("GET", "/v1/generations/{request_id}"),
    "delete_generation": Operation("DELETE", "/v1/generations/{request_id}"),
    "estimate": Operation("POST", "/v1/estimate", J),
    "preview_prompt": Operation("POST", "/v1/prompts/preview", J),
    # the OpenAI-compatible shapes
    "openai_generate": Operation("POST", "/v1/images/generations", J),
    "openai_edit": Operation("POST", "/v1/images/edits", J),
    # batches and async jobs
    "create_batch": Operation("POST", "/v1/batches", J),
    "get_batch": Operation("GET", "/v1/batches/{batch_id}"),
    "batch_events": Operation("GET", "/v1/batches/{batch_id}/events", result="events"),
    "retry_batch": Operation("POST", "/v1/batches/{batch_id}/retry"),
    "create_job": Operation("POST", "/v1/jobs", J),
    "get_job": Operation("GET", "/v1/jobs/{job_id}"),
    # images, approval, uploads
    "list_images": Operation("GET", "/v1/images"),
    "get_image": Operation("GET", "/v1/images/{image_id}", result="bytes"),
    "image_signed_url": Operation("GET", "/v1/images/{image_id}/signed-url"),
    "approve_image": Operation("POST", "/v1/images/{image_id}/approve", J),
    "reject_image": Operation("POST", "/v1/images/{image_id}/reject", J),
    "approve_images": Operation("POST", "/v1/images/approve", J),
    "reject_images": Operation("POST", "/v1/images/reject", J),
    "upload": Operation("POST", "/v1/uploads", "bytes", query=("caller",)),
    "get_upload": Operation("GET", "/v1/uploads/{upload_id}"),
    "upload_content": Operation("GET", "/v1/uploads/{upload_id}/content", result="bytes"),
    # entities: links, context, primary images
    "link": Operation("POST", "/v1/links", J),
    "unlink": Operation("DELETE", "/v1/links", J),
    "entity_images": Operation("GET", "/v1/entities/{entity_type}/{entity_id}/images"),
    "entity_references": Operation("GET", "/v1/entities/{entity_type}/{entity_id}/references"),
    "get_entity_context": Operation("GET", "/v1/entities/{entity_type}/{entity_id}/context"),
    "put_entity_context": Operation("PUT", "/v1/entities/{entity_type}/{entity_id}/context", J, query=("caller",)),
    "primary_images": Operation("GET", "/v1/entities/{entity_type}/{entity_id}/primary"),
    "set_primary_image": Operation("PUT", "/v1/entities/{entity_type}/{entity_id}/primary/{role}", J,
                                   query=("caller",)),
    "clear_primary_image": Operation("DELETE", "/v1/entities/{entity_type}/{entity_id}/primary/{role}"),
    # money, catalog, keys
    "usage": Operation("GET", "/v1/usage"),
    "get_budget": Operation("GET", "/v1/budget"),
    "put_budget": Operation("PUT", "/v1/budget", J),
    "providers": Operation("GET", "/v1/providers"),
    "health": Operation("GET", "/v1/health"),
    "list_prices": Operation("GET", "/v1/prices"),
    "price_history": Operation("GET", "/v1/prices/history"),
    "set_price": Operation("PUT", "/v1/prices/{model}", J),
    "clear_price": Operation("DELETE", "/v1/prices/{model}", J),
    "list_keys": Operation("GET", "/v1/keys"),
    "create_key": Operation("POST", "/v1/keys", J),
    "get_key": Operation("GET", "/v1/keys/{key_id}"),
    "revoke_key": Operation("DELETE", "/v1/keys/{key_id}"),
}


def _app(services: Services) -> Any:
    app = services.extras.get("rpc_app")
    if app is None:
        from .app import create_app  # here, not at import: app.py is the bigger module

        app = services.extras["rpc_app"] = create_app(services)
    return app


def _split(op: Operation, name: str, arg: Any) -> tuple[str, bytes, bytes, str]:
    """(path, query string, body, content type) for one call. A "bytes" body (`upload`) is
    `{content_type, data}`, `data` the bytes themselves or their base64 text."""
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
    if op.body is None:
        return path, _query(rest), b"", "application/json"
    query = _query({k: rest.pop(k) for k in op.query if k in rest})
    if op.body == "bytes":
        return (path, query, _bytes_of(name, rest.get("data")),
                str(rest.get("content_type") or "application/octet-stream"))
    return path, query, json.dumps(rest, separators=(",", ":")).encode(), "application/json"


def _query(fields: dict[str, Any]) -> bytes:
    return urlencode({k: _query_value(v) for k, v in fields.items() if v is not None}).encode()


def _bytes_of(name: str, data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except ValueError:
            pass
    raise errors.InvalidRequest(f"{name} needs 'data': the bytes, or their base64", details={"field": "data"})


def _query_value(value: Any) -> str:
    # JSON spelling, as an HTTP caller writes it: true/false, not Python's True/False.
    return value if isinstance(value, str) else json.dumps(value)


async def call(services: Services, name: str, arg: Any = None) -> dict[str, Any]:
    """Run operation `name` as its HTTP route would, in-process; `{ok, result | error}`."""
    op = OPERATIONS.get(name)
    if op is None:
        return {"ok": False, "error": errors.NotFound(f"no RPC operation {name!r}").to_dict()}
    try:
        path, query, body, content_type = _split(op, name, arg)
    except errors.ImageWorkerError as exc:
        return {"ok": False, "error": exc.to_dict()}
    status, payload = await _asgi(_app(services), op.method, path, query, body, content_type)
    if status >= 400:
        return {"ok": False, "error": payload.get("error", {"code": "internal_error", "message": f"HTTP {status}"})}
    return {"ok": True, "result": payload}


async def _asgi(app: Any, method: str, path: str, query: bytes, body: bytes,
                content_type: str = "application/json") -> tuple[int, Any]:
    """One request through the app, no socket: (status, decoded body; see `_decoded`)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "server": ("service-binding", 80), "client": None,
        "headers": [(b"host", b"service-binding"), (b"content-type", content_type.encode("latin-1")),
                    (b"content-length", str(len(body)).encode())],
        TRUSTED: True,
    }
    sent = False
    status = 500
    headers: dict[str, str] = {}
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
            headers.update((k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, _decoded(status, headers, b"".join(chunks))


def _decoded(status: int, headers: dict[str, str], raw: bytes) -> Any:
    """JSON as itself; an event stream as `{events: [{event, data}]}` (RPC does not stream: it
    answers once the stream has ended); other bytes (an image) as `{content_type, etag,
    data_base64}`."""
    kind = headers.get("content-type", "").split(";")[0].strip()
    if kind == "text/event-stream":
        return {"events": list(_sse_events(raw.decode("utf-8", "replace")))}
    if kind and kind != "application/json" and status < 400:
        return {"content_type": kind, "etag": headers.get("etag"), "data_base64": base64.b64encode(raw).decode()}
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return {"error": errors.ImageWorkerError(f"operation answered HTTP {status} without JSON").to_dict()}


def _sse_events(text: str) -> Any:
    for block in text.split("\n\n"):
        event, data = "message", []
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            try:
                yield {"event": event, "data": json.loads("\n".join(data))}
            except ValueError:
                yield {"event": event, "data": "\n".join(data)}
