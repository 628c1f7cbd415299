"""The only module that touches the Workers runtime (js, pyodide, workers).

It adapts the bindings to the ports in ports.py — env.DB (D1), env.IMAGES (R2),
env.LEDGER (the ledger Durable Object), env.AI (Workers AI), fetch and
ctx.waitUntil — and deals only in plain dicts, strings and bytes.

Three facts of workerd shape it (each one broke the Worker before):
- A JS object (Durable Object stub, binding wrapper, stream) belongs to the
  request that created it. So nothing JS is kept per isolate: each handler runs
  `within(env, ctx, ...)`, which puts that request's env and ctx in a context
  variable, and every adapter looks its binding up there on each use.
- The Workers SDK wraps env in Python wrappers that convert values themselves
  (results arrive as memoryviews and JsDicts, arguments become borrowed proxies
  when handed to `to_js`). We unwrap once (`_raw`) and convert here, both ways:
  `_js()` (None → null, dicts → plain objects, bytes → Uint8Array) and `_py()`
  (JsProxy → Python, `jsnull`/undefined → None, buffers → bytes).
- Proxies handed to JS are destroyed when they settle (`keep_alive`)."""

from __future__ import annotations

import asyncio
import base64
import contextvars
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

import js  # type: ignore[import-not-found]
# Pyodide 314 hands JS null over as `jsnull`, distinct from None (undefined).
from pyodide.ffi import JsException, JsProxy, create_proxy, jsnull, to_js  # type: ignore[import-not-found]

from . import errors
from .clock import SystemClock
from .ports import HttpRequest, HttpResponse, StoredObject
from .settings import KNOWN_KEYS

_NULL = js.JSON.parse("null")


# --- values across the boundary ---------------------------------------------------


def _raw(obj: Any) -> Any:
    """The JS object under an SDK wrapper (`_EnvWrapper`, `_BindingWrapper`, contexts)."""
    if obj is None or isinstance(obj, JsProxy):
        return obj
    fields = getattr(obj, "__dict__", {})
    for attr in ("_env", "_binding", "_ctx"):
        if fields.get(attr) is not None:
            return fields[attr]
    return obj


def _is_null(value: Any) -> bool:
    return value is None or value is jsnull or value is _NULL or getattr(value, "typeof", "") == "undefined"


def _clean(value: Any) -> Any:
    """Python values from `to_py` with JS null/undefined as None and buffers as bytes."""
    if _is_null(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    return value


def _py(value: Any) -> Any:
    """JS → Python, once, at the boundary."""
    if _is_null(value):
        return None
    if hasattr(value, "to_py"):
        value = value.to_py()
    return _clean(value)


def _bytes(value: Any) -> bytes:
    """An ArrayBuffer / typed array / buffer as bytes (the SDK may already have made a memoryview)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return value.to_bytes()


def _nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulls(v) for v in value]
    return _NULL if value is None else value


def _js(value: Any) -> Any:
    """Python → JS: dicts as plain objects, None as null (to_js would make it undefined)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return _NULL if value is None else value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return to_js(bytes(value))
    return to_js(_nulls(value), dict_converter=js.Object.fromEntries)


def _param(value: Any) -> Any:
    """A D1 bind parameter: None as null, bools as 0/1, bytes as a Uint8Array."""
    if isinstance(value, bool):
        return int(value)
    return _js(value) if value is None or isinstance(value, (bytes, bytearray, memoryview)) else value


# --- the current request ----------------------------------------------------------


@dataclass
class _Request:
    env: Any  # the raw JS env
    ctx: Any  # the raw JS ExecutionContext (None in a Durable Object call)
    _stub: Any = None

    def ledger_stub(self) -> Any:
        if self._stub is None:
            namespace = self.env.LEDGER
            self._stub = namespace.get(namespace.idFromName("global"))
        return self._stub


_current: contextvars.ContextVar[_Request] = contextvars.ContextVar("cloudflare_request")


def _request() -> _Request:
    request = _current.get(None)
    if request is None:
        raise RuntimeError("a binding was used outside a request handler (wrap it in runtime.within)")
    return request


async def within(env: Any, ctx: Any, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run one handler's work with this request's env and ctx as the current bindings.

    The work runs in its own task, so its context (and every task it starts, which
    copies it) sees this request's bindings and no other request's."""

    async def run() -> Any:
        _current.set(_Request(_raw(env), _raw(ctx) if ctx is not None else None))
        return await work()

    return await asyncio.ensure_future(run())


def read_env(env: Any) -> dict[str, str]:
    """The known settings (vars and secrets) as strings; nothing else is copied."""
    raw = _raw(env)
    values = {key: getattr(raw, key, None) for key in KNOWN_KEYS}
    return {key: value for key, value in values.items() if isinstance(value, str) and value != ""}


def _wait_until(wait_until: Any, awaitable: Any) -> None:
    """Hand an awaitable to a JS `waitUntil` through an owned proxy, destroyed when it settles
    (a borrowed one dies when the call returns, before JS calls `.then`: nothing is waited for)."""
    future = asyncio.ensure_future(awaitable)
    proxy = create_proxy(future)
    future.add_done_callback(lambda _f: proxy.destroy())
    wait_until(proxy)


def install_sdk_fixes() -> None:
    """workers-runtime-sdk's ASGI bridge keeps a streaming response's app task alive with
    `wait_until(task)`, which passes a borrowed proxy (above). It imports `wait_until`
    from `workers` at call time, so a module attribute there takes its place."""
    import workers  # type: ignore[import-not-found]

    sdk_getattr = workers.__getattr__  # resolves cloudflare:workers' waitUntil on use, not at import

    def wait_until(awaitable: Any) -> None:
        _wait_until(sdk_getattr("wait_until"), awaitable)

    workers.wait_until = workers.waitUntil = wait_until


class Background:
    """`ctx.waitUntil` for the current request: the isolate stays up until the work ends,
    even after the response is sent or the client has gone away."""

    def keep_alive(self, task: asyncio.Future) -> None:
        ctx = _request().ctx
        if ctx is not None:
            _wait_until(ctx.waitUntil, task)


# --- D1 -------------------------------------------------------------------------


class D1Database:
    def __init__(self, name: str = "DB") -> None:
        self._name = name

    def _statement(self, sql: str, params: Sequence[Any]) -> Any:
        stmt = getattr(_request().env, self._name).prepare(sql)
        return stmt.bind(*[_param(p) for p in params]) if params else stmt

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        result = _py(await self._statement(sql, params).all()) or {}
        return [dict(row) for row in (result.get("results") or [])]

    async def first(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = _py(await self._statement(sql, params).first())
        return dict(row) if row else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        result = _py(await self._statement(sql, params).run()) or {}
        return int((result.get("meta") or {}).get("changes") or 0)

    async def batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        # D1 runs a batch as one transaction: all statements or none. The array holds
        # the JS statements themselves (no Python proxies that could be destroyed).
        array = js.Array.new()
        for sql, params in statements:
            array.push(self._statement(sql, params))
        await getattr(_request().env, self._name).batch(array)


# --- R2 -------------------------------------------------------------------------


class R2ObjectStore:
    def __init__(self, name: str = "IMAGES") -> None:
        self._name = name

    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        options = {"httpMetadata": {"contentType": content_type}, "customMetadata": metadata or {}}
        await getattr(_request().env, self._name).put(key, to_js(body), _js(options))

    async def get(self, key: str) -> StoredObject | None:
        obj = await getattr(_request().env, self._name).get(key)
        if _is_null(obj):
            return None
        body = _bytes(await obj.arrayBuffer())
        meta = obj.httpMetadata
        content_type = None if _is_null(meta) else getattr(meta, "contentType", None)
        return StoredObject(body=body, content_type=str(content_type or "application/octet-stream"),
                            etag=str(obj.etag), size=int(obj.size))

    async def delete(self, key: str) -> None:
        await getattr(_request().env, self._name).delete(key)


# --- fetch ----------------------------------------------------------------------


def _fetch_error(exc: Exception, timeout_s: float) -> errors.ImageWorkerError:
    name = str(getattr(exc, "name", "") or type(exc).__name__)
    if "Timeout" in name or "Abort" in name:
        return errors.ProviderTimeout(f"no answer within {timeout_s:g}s")
    return errors.ProviderUnavailable(f"connection failed: {name}")


def _init(request: HttpRequest) -> Any:
    init: dict[str, Any] = {"method": request.method, "headers": _js(dict(request.headers)),
                            "signal": js.AbortSignal.timeout(int(request.timeout_s * 1000))}
    if request.body is not None:
        init["body"] = to_js(request.body)
    return to_js(init, dict_converter=js.Object.fromEntries)


def _headers(response: Any) -> dict[str, str]:
    return {str(pair[0]).lower(): str(pair[1]) for pair in response.headers.entries()}


class _FetchStream:
    def __init__(self, response: Any, timeout_s: float) -> None:
        self._response = response
        self._timeout_s = timeout_s
        self.status = int(response.status)
        self.headers = _headers(response)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        if _is_null(self._response.body):
            return
        reader = self._response.body.getReader()
        try:
            while True:
                chunk = await reader.read()
                if chunk.done:
                    return
                yield _bytes(chunk.value)
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
            body = _bytes(await response.arrayBuffer())
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
            if not _is_null(response.body) and not response.bodyUsed:
                try:
                    await response.body.cancel()
                except JsException:
                    pass


# --- the ledger Durable Object and its storage ------------------------------------


class DurableObjectSql:
    """`SqlStorage` (ledger/core.py) over `ctx.storage.sql`: synchronous, rows as dicts."""

    def __init__(self, sql: Any) -> None:
        self._sql = sql

    def exec(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cursor = self._sql.exec(sql, *[_param(p) for p in params])
        return [dict(row) for row in (_py(cursor.toArray()) or [])]


class DurableLedger:
    """The Ledger port (ports.py) as RPC calls on the single global ledger object: every
    method forwards by name, dicts in and out. The stub is the current request's (a
    stub kept across requests fails with cross-request I/O)."""

    async def _call(self, method: str, *args: Any) -> Any:
        stub = _request().ledger_stub()
        return _py(await getattr(stub, method)(*[_js(a) for a in args]))

    def __getattr__(self, method: str) -> Callable[..., Awaitable[Any]]:
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args: self._call(method, *args)

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        answer = await self._call("put_config", changes)
        if "error" in answer:  # typed errors cross the RPC boundary as data
            raise errors.from_dict(answer["error"])
        return answer["config"]


def ledger_storage(ctx: Any) -> DurableObjectSql:
    """The Durable Object's own SQLite (its ctx lives as long as the object)."""
    return DurableObjectSql(_raw(ctx).storage.sql)


# --- Workers AI -----------------------------------------------------------------


class WorkersAiBinding:
    def __init__(self, name: str = "AI") -> None:
        self._name = name

    async def run(self, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return _py(await getattr(_request().env, self._name).run(model, _js(inputs)))


# --- Queues ----------------------------------------------------------------------


class JsQueue:
    """The Queue port (batches and async jobs) over a Queue binding, JSON bodies."""

    def __init__(self, name: str = "JOBS") -> None:
        self._name = name

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None:
        options = {"contentType": "json", "delaySeconds": int(delay_s)}
        await getattr(_request().env, self._name).send(_js(body), _js(options))

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None:
        await getattr(_request().env, self._name).sendBatch(_js([{"body": b, "contentType": "json"} for b in bodies]))


def queue_messages(batch: Any) -> list[dict[str, Any]]:
    """A consumer's MessageBatch as plain dicts {id, body, attempts, ack(), retry(delay_s)}."""
    return [{"id": str(m.id), "body": _py(m.body), "attempts": int(m.attempts), "ack": m.ack,
             "retry": lambda delay_s=0, m=m: m.retry(_js({"delaySeconds": int(delay_s)}))}
            for m in _raw(batch).messages]


# --- WebCrypto -------------------------------------------------------------------


class WebCryptoSigner:
    """The Signer port (RS256 for Vertex service-account JWTs) over `crypto.subtle`. Keys
    are imported per call: the access token is cached (vertex_auth), so signing is rare."""

    async def sign_rs256(self, private_key_pem: str, data: bytes) -> bytes:
        body = "".join(line for line in private_key_pem.strip().splitlines() if not line.startswith("-----"))
        algorithm = _js({"name": "RSASSA-PKCS1-v1_5", "hash": "SHA-256"})
        subtle = js.crypto.subtle
        key = await subtle.importKey("pkcs8", to_js(base64.b64decode(body)), algorithm, False, _js(["sign"]))
        return _bytes(await subtle.sign("RSASSA-PKCS1-v1_5", key, to_js(data)))


# --- assembling ---------------------------------------------------------------------


def build_services(env: Any) -> Any:
    """The Services for this isolate. Settings are read once; the adapters hold only
    binding names and resolve them in the current request on each use."""
    from .services import build_services as build

    settings = read_env(env)
    # Fail closed in every wrangler environment (named ones do not inherit [vars]).
    settings.setdefault("REQUIRE_API_TOKEN", "true")
    return build(
        settings,
        db=D1Database("DB"),
        objects=R2ObjectStore("IMAGES"),
        ledger=DurableLedger(),
        http=FetchHttpClient(),
        clock=SystemClock(),
        ai=WorkersAiBinding("AI") if not _is_null(getattr(_raw(env), "AI", None)) else None,
        background=Background(),
        signer=WebCryptoSigner(),
        queue=JsQueue("JOBS") if not _is_null(getattr(_raw(env), "JOBS", None)) else None,
        images=ImagesBindingTransformer(IMAGES_BINDING) if not _is_null(getattr(_raw(env), IMAGES_BINDING, None)) else None,
    )


def to_js_result(value: Any) -> Any:
    """An RPC method's result as a plain JS value."""
    return _js(value)


def from_js_arg(value: Any) -> Any:
    """An RPC argument as plain Python."""
    return _py(value)


# --- Images binding (delivery) -------------------------------------------------------
# The ImageTransformer port (ports.py) over the Cloudflare Images binding (`[images]` in
# wrangler.toml; IMAGES is the R2 bucket, so this binding is IMAGE_TRANSFORMS). One
# `input().transform().output()` chain per call, which Cloudflare bills as one transformation.

IMAGES_BINDING = "IMAGE_TRANSFORMS"


class ImagesBindingTransformer:
    def __init__(self, name: str = IMAGES_BINDING) -> None:
        self._name = name

    async def transform(self, data: bytes, transform: dict[str, Any], output: dict[str, Any]) -> bytes:
        binding = getattr(_request().env, self._name)
        # `input` takes a ReadableStream; a Response over the bytes gives one with a known length.
        stream = js.Response.new(to_js(data)).body
        try:
            result = await binding.input(stream).transform(_js(transform)).output(_js(output))
            # Buffered: R2 `put` refuses a stream of unknown length (workers-sdk#6425).
            body = _bytes(await result.response().arrayBuffer())
        except JsException as exc:
            raise errors.TransformFailed(f"the Images binding failed: {exc}") from None
        if not body:
            raise errors.TransformFailed("the Images binding returned no bytes")
        return body
