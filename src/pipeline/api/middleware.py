"""Plain ASGI middleware (no threads, no task groups, so it streams in workerd too):
one log line per request, CORS, HEAD as GET, and the key, its scope and the body's size
and shape checked before the app parses a byte of it.

Order, outermost first: RequestLog → Cors → Gate → the FastAPI app. The log sees
every answer (preflights and refusals included); CORS headers go on errors too,
so a browser can read them."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Awaitable, Callable

from .. import errors, logs
from ..delivery.urls import set_origin
from ..ids import new_id
from . import body_limits, json_scan, route_table
from .deps import TRUSTED, authenticate, no_key_message, services_of

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def request_origin(scope: Scope) -> str:
    """`scheme://host` this request came in on, for absolute image URLs ("" for an
    in-process RPC call, or a Host header that is not a plain host name)."""
    host = _header(scope, b"host") or ""
    if scope.get(TRUSTED) or not _HOST.match(host):
        return ""
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    return f"{scheme}://{host}"

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_ALLOW_HEADERS = "authorization, content-type, idempotency-key, if-none-match, accept, last-event-id"
_EXPOSE_HEADERS = "etag, location, x-request-id, idempotent-replayed, retry-after, retry-after-ms, content-length"
_PREFLIGHT_MAX_AGE = "600"


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    raw = json.dumps(body, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *headers]})
    await send({"type": "http.response.body", "body": raw})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestLog:
    """One JSON line per request: method, route, status, duration, caller, request id, the
    generation it made or read, and the error code of a refusal. Never the query string, a
    body, a prompt or a header value (keys live there)."""

    def __init__(self, app: ASGIApp, level: Callable[[], str]) -> None:
        self.app = app
        self._level = level

    @property
    def level(self) -> int:
        return logs.level_named(self._level())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.monotonic()
        set_origin(request_origin(scope))
        method = scope.get("method")  # before Gate serves HEAD as GET
        request_id = new_id("req")
        seen: dict[str, Any] = {"status": 500}

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                headers = list(message.get("headers", ()))
                found = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-request-id"]
                if found:
                    seen["request_id"] = found[0]
                else:
                    headers.append((b"x-request-id", request_id.encode()))
                seen["generation_id"] = _generation_id(headers)
                seen["json"] = any(k.lower() == b"content-type" and v.startswith(b"application/json") for k, v in headers)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and seen["status"] >= 400 and seen.get("json") and "code" not in seen:
                seen["code"], gen = _error_of(message.get("body", b""))
                seen["generation_id"] = seen.get("generation_id") or gen
            await send(message)

        try:
            await self.app(scope, receive, send_logged)
        finally:
            status = seen["status"]
            # 2xx/3xx at INFO, 4xx at WARNING, 5xx at ERROR; LOG_LEVEL is the threshold.
            level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
            if level >= self.level:
                principal = (scope.get("state") or {}).get("principal")
                # The app's route, or the Gate's when the Gate answered before the app ran.
                route = scope.get("route") or (scope.get("state") or {}).get("route")
                logs.event(
                    level, "request", logger=logs.ACCESS, method=method,
                    route=getattr(route, "path", None) or "(unmatched)", status=status,
                    duration_ms=round((time.monotonic() - started) * 1000, 1),
                    caller=getattr(principal, "caller", None), key_id=getattr(principal, "key_id", None),
                    request_id=seen.get("request_id", request_id), generation_id=seen.get("generation_id"),
                    code=seen.get("code"),
                )


def _generation_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The generation a response is about, from its Location or X-Request-Id header."""
    for key, value in headers:
        name = key.lower()
        text = value.decode("latin-1")
        if name == b"location" and text.startswith("/v1/generations/gen_"):
            return text.rsplit("/", 1)[-1]
        if name == b"x-request-id" and text.startswith("gen_"):
            return text
    return None


def _error_of(body: bytes) -> tuple[str | None, str | None]:
    """An error answer's code and generation id (the one error shape), read from a body
    this app wrote itself; a large or odd body yields nothing rather than a cost."""
    if not body or len(body) > 65_536:
        return None, None
    try:
        error = json.loads(body).get("error") or {}
        details = error.get("details") or {}
        gen = details.get("request_id")
        return (error.get("code") if isinstance(error.get("code"), str) else None,
                gen if isinstance(gen, str) and gen.startswith("gen_") else None)
    except (ValueError, AttributeError):
        return None, None


class Cors:
    """CORS for the configured origins only. Preflights are answered here (204);
    other origins get no CORS headers, so the browser keeps the answer from them.
    Every answer also says `nosniff` (bytes are never run as another type) and, when
    CORS is on, `Vary: Origin` whatever the origin: a cache must not hand one origin's
    answer (with or without CORS headers) to another."""

    def __init__(self, app: ASGIApp, allows: Callable[[str], bool], enabled: Callable[[], bool]) -> None:
        self.app = app
        self.allows = allows
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        origin = _header(scope, b"origin")
        always = [(b"x-content-type-options", b"nosniff")] + ([(b"vary", b"Origin")] if self.enabled() else [])
        if origin is None or not self.allows(origin):
            return await self.app(scope, receive, _adding(send, always))
        vary = [(b"access-control-allow-origin", origin.encode()), *always]
        requested = _header(scope, b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await send({"type": "http.response.start", "status": 204, "headers": [*vary,
                (b"access-control-allow-methods", b"GET, HEAD, POST, PUT, PATCH, DELETE"),
                (b"access-control-allow-headers", _ALLOW_HEADERS.encode()),
                (b"access-control-max-age", _PREFLIGHT_MAX_AGE.encode())]})
            await send({"type": "http.response.body", "body": b""})
            return

        await self.app(scope, receive, _adding(send, [*vary, (b"access-control-expose-headers", _EXPOSE_HEADERS.encode())]))


def _adding(send: Send, headers: list[tuple[bytes, bytes]]) -> Send:
    """`send`, with `headers` added to the response's start."""

    async def send_with(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *headers]}
        await send(message)

    return send_with


class Gate:
    """Before the app reads a byte of the body: the key is checked (a request that
    would upload megabytes without a valid key is refused at once), then the scope the
    route needs (its `require_*` dependency), then the body: a larger `Content-Length`
    than the route takes (body_limits.py) is 413 unread, a body without one is counted
    while read and cut at the limit, and a body the app parses is scanned (json_scan.py)
    so that no parser meets bad UTF-8 or 10,000 nested arrays. HEAD is served as GET
    without its body."""

    def __init__(self, app: ASGIApp, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        services = services_of(self.fastapi_app)
        try:
            state["principal"] = await authenticate(services, _header(scope, b"authorization"), bool(scope.get(TRUSTED)))
            state["principal_resolved"] = True
        except errors.ImageWorkerError as exc:
            return await _send_json(send, exc.status, {"error": exc.to_dict()}, [(b"www-authenticate", b"Bearer")])
        if state["principal"] is None and scope["method"] in _BODY_METHODS and scope["path"].startswith("/v1/"):
            exc = errors.Unauthorized(no_key_message(services))
            return await _send_json(send, 401, {"error": exc.to_dict()}, [(b"www-authenticate", b"Bearer")])
        route = state["route"] = route_table.find(self.fastapi_app, scope["method"], scope["path"])
        try:
            if route is not None and state["principal"] is not None:
                for needed in route.scopes[scope["method"]]:
                    state["principal"].require(needed)
            if route is not None and scope["method"] in _BODY_METHODS:
                body = await read_bounded(scope, receive, route.path)
                if body is None:
                    return  # the client left before it sent the whole body
                receive = _replay(body, receive)
                del body  # the app holds it now; none of it stays here
        except errors.ImageWorkerError as exc:
            return await _send_json(send, exc.status, {"error": exc.to_dict()})
        if scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_headers_only(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        scope["method"] = "GET"
        await self.app(scope, receive, send_headers_only)


async def read_bounded(scope: Scope, receive: Receive, route_path: str) -> bytes | None:
    """The whole body, if it fits the route's limit (PayloadTooLarge otherwise, at once for a
    larger Content-Length, else as soon as the count passes it); None if the client left."""
    kind = body_limits.kind_of(scope["method"], route_path)
    limit = body_limits.limit_of(kind)
    too_large = errors.PayloadTooLarge(f"this route takes a body of at most {limit} bytes",
                                       details={"max_bytes": limit})
    declared = _header(scope, b"content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large
        if chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if kind in body_limits.PARSED_KINDS and not _is_form(scope):
        json_scan.check(body)
    return body


def _is_form(scope: Scope) -> bool:
    return (_header(scope, b"content-type") or "").lower().startswith("multipart/form-data")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the app the body once, then the client's own messages
    (a disconnect, which streaming responses wait for)."""
    held = [body]

    async def replayed() -> dict[str, Any]:
        if held:
            return {"type": "http.request", "body": held.pop(), "more_body": False}
        return await receive()

    return replayed
