"""The only module that touches the Workers runtime (js, pyodide, workers).

It adapts the bindings to the ports in ports.py — env.DB (D1), env.IMAGES (R2),
env.LEDGER (the ledger Durable Object), env.AI (Workers AI) and fetch — and
deals only in plain dicts, strings and bytes. Values cross the JS boundary in
one place each way: `_js()` (None becomes JS null, dicts become plain
objects) and `_py()` (JsProxy to Python; already-Python values pass through,
as newer SDKs convert binding results themselves).

Imported lazily by entry.py; never imported under CPython."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from . import errors
from .clock import SystemClock
from .ports import HttpRequest, HttpResponse, StoredObject
from .settings import KNOWN_KEYS

_NULL = js.JSON.parse("null")


def _nulls(value: Any) -> Any:
    if value is None:
        return _NULL
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulls(v) for v in value]
    return value


def _js(value: Any) -> Any:
    """Python → JS: dicts as plain objects, None as null (to_js would make it undefined)."""
    if value is None:
        return _NULL
    if isinstance(value, (bytes, bytearray, memoryview)):
        return to_js(bytes(value))
    return to_js(_nulls(value), dict_converter=js.Object.fromEntries)


def _py(value: Any) -> Any:
    if value is None or value is _NULL or (hasattr(value, "typeof") and value.typeof == "undefined"):
        return None
    return value.to_py() if hasattr(value, "to_py") else value


def read_env(env: Any) -> dict[str, str]:
    out = {}
    for key in KNOWN_KEYS:
        value = getattr(env, key, None)
        if isinstance(value, str) and value != "":
            out[key] = value
    return out


# --- D1 -------------------------------------------------------------------------


class D1Database:
    def __init__(self, binding: Any) -> None:
        self._db = binding

    def _statement(self, sql: str, params: Sequence[Any]) -> Any:
        stmt = self._db.prepare(sql)
        return stmt.bind(*[_NULL if p is None else p for p in params]) if params else stmt

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        result = _py(await self._statement(sql, params).all())
        return [dict(row) for row in (result.get("results") or [])]

    async def first(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = _py(await self._statement(sql, params).first())
        return dict(row) if row else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        result = _py(await self._statement(sql, params).run())
        return int((result.get("meta") or {}).get("changes") or 0)

    async def batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        # D1 runs a batch as one transaction: all statements or none.
        await self._db.batch(to_js([self._statement(sql, params) for sql, params in statements]))


# --- R2 -------------------------------------------------------------------------


class R2ObjectStore:
    def __init__(self, binding: Any) -> None:
        self._bucket = binding

    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        options = {"httpMetadata": {"contentType": content_type}, "customMetadata": metadata or {}}
        await self._bucket.put(key, to_js(body), to_js(options, dict_converter=js.Object.fromEntries))

    async def get(self, key: str) -> StoredObject | None:
        obj = await self._bucket.get(key)
        if obj is None or obj is _NULL:
            return None
        body = (await obj.arrayBuffer()).to_bytes()
        meta = obj.httpMetadata
        content_type = getattr(meta, "contentType", None) or "application/octet-stream"
        return StoredObject(body=body, content_type=content_type, etag=str(obj.etag), size=int(obj.size))

    async def delete(self, key: str) -> None:
        await self._bucket.delete(key)


# --- fetch ----------------------------------------------------------------------


def _fetch_error(exc: Exception, timeout_s: float) -> errors.ImageWorkerError:
    name = str(getattr(exc, "name", "") or type(exc).__name__)
    if "Timeout" in name or "Abort" in name:
        return errors.ProviderTimeout(f"no answer within {timeout_s:g}s")
    return errors.ProviderUnavailable(f"connection failed: {name}")


def _init(request: HttpRequest) -> Any:
    init: dict[str, Any] = {"method": request.method, "headers": request.headers,
                            "signal": js.AbortSignal.timeout(int(request.timeout_s * 1000))}
    if request.body is not None:
        init["body"] = to_js(request.body)
    return to_js(init, dict_converter=js.Object.fromEntries)


def _headers(response: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in response.headers.entries()}


class _FetchStream:
    def __init__(self, response: Any, timeout_s: float) -> None:
        self._response = response
        self._timeout_s = timeout_s
        self.status = int(response.status)
        self.headers = _headers(response)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if self._response.body is None:
            return
        reader = self._response.body.getReader()
        try:
            while True:
                chunk = await reader.read()
                if chunk.done:
                    return
                yield chunk.value.to_bytes()
        except JsException as exc:
            raise _fetch_error(exc, self._timeout_s) from None
        finally:
            reader.releaseLock()

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])


class FetchHttpClient:
    """HttpClient over the runtime's fetch; bodies stream through a ReadableStream reader."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await js.fetch(request.url, _init(request))
            body = (await response.arrayBuffer()).to_bytes()
        except JsException as exc:
            raise _fetch_error(exc, request.timeout_s) from None
        return HttpResponse(int(response.status), _headers(response), body)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[_FetchStream]:
        try:
            response = await js.fetch(request.url, _init(request))
        except JsException as exc:
            raise _fetch_error(exc, request.timeout_s) from None
        stream = _FetchStream(response, request.timeout_s)
        try:
            yield stream
        finally:
            if response.body is not None and not response.bodyUsed:
                try:
                    await response.body.cancel()
                except JsException:
                    pass


# --- the ledger Durable Object and its storage ------------------------------------


class DurableObjectSql:
    """`SqlStorage` (ledger.py) over `ctx.storage.sql`: synchronous, rows as dicts."""

    def __init__(self, sql: Any) -> None:
        self._sql = sql

    def exec(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cursor = self._sql.exec(sql, *[_NULL if p is None else p for p in params])
        rows = _py(cursor.toArray()) or []
        return [dict(row) for row in rows]


class DurableLedger:
    """The Ledger port as RPC calls on the single global ledger object."""

    def __init__(self, namespace: Any) -> None:
        self._stub = namespace.get(namespace.idFromName("global"))

    async def _call(self, method: str, *args: Any) -> dict[str, Any]:
        return _py(await getattr(self._stub, method)(*[_js(a) for a in args]))

    async def reserve(self, request: dict[str, Any]) -> dict[str, Any]:
        return await self._call("reserve", request)

    async def settle(self, request_id: str, actual_micros: int, details: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._call("settle", request_id, actual_micros, details or {})

    async def release(self, request_id: str, reason: str) -> dict[str, Any]:
        return await self._call("release", request_id, reason)

    async def reconcile(self, spent: list[dict[str, Any]]) -> dict[str, Any]:
        return await self._call("reconcile", spent)

    async def acquire_slot(self, request_id: str, provider: str, wait_s: float) -> dict[str, Any]:
        return await self._call("acquire_slot", request_id, provider, wait_s)

    async def release_slot(self, request_id: str, provider: str) -> dict[str, Any]:
        return await self._call("release_slot", request_id, provider)

    async def get_config(self) -> dict[str, Any]:
        return await self._call("get_config")

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        answer = await self._call("put_config", changes)
        if "error" in answer:  # typed errors cross the RPC boundary as data
            raise errors.from_dict(answer["error"])
        return answer["config"]

    async def usage(self, day_from: str, day_to: str) -> dict[str, Any]:
        return await self._call("usage", day_from, day_to)

    async def sweep(self) -> dict[str, Any]:
        return await self._call("sweep")


def ledger_storage(ctx: Any) -> DurableObjectSql:
    return DurableObjectSql(ctx.storage.sql)


# --- Workers AI -----------------------------------------------------------------


class WorkersAiBinding:
    def __init__(self, binding: Any) -> None:
        self._ai = binding

    async def run(self, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return _py(await self._ai.run(model, _js(inputs)))


# --- assembling ---------------------------------------------------------------------


def build_services(env: Any) -> Any:
    """The Services for this isolate, from its bindings."""
    from .services import build_services as build

    ai = getattr(env, "AI", None)
    return build(
        read_env(env),
        db=D1Database(env.DB),
        objects=R2ObjectStore(env.IMAGES),
        ledger=DurableLedger(env.LEDGER),
        http=FetchHttpClient(),
        clock=SystemClock(),
        ai=WorkersAiBinding(ai) if ai is not None else None,
    )


def to_js_result(value: dict[str, Any]) -> Any:
    """An RPC method's dict result as a plain JS object."""
    return _js(value)


def from_js_arg(value: Any) -> Any:
    return _py(value)
