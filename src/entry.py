"""The Worker: wiring only. HTTP goes to the FastAPI app, service-binding RPC to
pipeline.api.rpc, the cron to pipeline.maintenance, and the ledger Durable Object
forwards to pipeline.ledger.service. Everything else lives in src/pipeline/.

Imports are at module top level so they land in the deploy snapshot (a cold
start does not re-import FastAPI and pydantic); nothing here draws randomness
at import. Each handler runs inside `runtime.within(env, ctx, ...)`: the bindings
it uses are that request's, never a previous request's."""

from urllib.parse import unquote, urlsplit

from workers import DurableObject, WorkerEntrypoint, asgi

from pipeline import logs, maintenance, runtime
from pipeline.api import rpc
from pipeline.api.app import create_app
from pipeline.api.route_table import body_limit, table_of
from pipeline.clock import SystemClock
from pipeline.ledger import wire
from pipeline.queued import consumer
from pipeline.ledger.service import LedgerService

runtime.install_sdk_fixes()
_app = create_app()  # routes and schemas built at import: part of the snapshot
table_of(_app)  # and the Gate's route table
_services = None


def _services_for(env):
    """Settings and the provider registry, once per isolate (vars do not change in it)."""
    global _services
    if _services is None:
        _services = runtime.build_services(env)
        logs.configure(_services.settings.access.log_level)  # JSON lines on stdout: the Workers log
        _app.state.services = _services
        _services.extras["rpc_app"] = _app  # RPC runs the same routes in-process (pipeline.api.rpc)
    return _services


def _path_of(url):
    return unquote(urlsplit(str(url)).path)


# A refused body is still read to its end, and dropped as it comes (the client can then read
# the 413: a server that stops reading breaks the connection the answer travels on). Beyond
# this much, reading stops and the connection may break.
_DRAIN_BYTES = 128 * 1024 * 1024


class _BoundedRequest:
    """The request as the SDK's ASGI bridge reads it (url, method, headers, body), with a
    body that stops at the route's limit. The bridge reads a body whole before the app
    runs, so without this a 30 MB body would be in memory before the Gate could refuse
    it. A declared Content-Length over the limit passes no byte to the app; a body without
    one passes until it is past the limit. Either way the Gate (middleware.py) answers 413,
    and the rest of the body is dropped as it arrives, never held."""

    def __init__(self, request, limit):
        self.url, self.method = request.url, request.method
        headers = request.headers
        self.headers = list(headers.items()) if hasattr(headers, "items") else [tuple(p) for p in headers]
        declared = next((v for k, v in self.headers if k.lower() == "content-length"), None)
        self._over = declared is not None and declared.strip().isdigit() and int(declared) > limit
        self._stream, self._limit = request.body, limit

    @property
    def body(self):
        if not self._stream:  # (JS null is JsNull, falsy, not None)
            return None
        return self._read()

    async def _read(self):
        seen, passing = 0, not self._over
        async for chunk in self._stream:
            seen += chunk.byteLength
            if passing:
                yield chunk
                passing = seen <= self._limit
            elif seen > _DRAIN_BYTES:
                return


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        _services_for(self.env)
        if runtime.memory_probe.is_route(self.env, _path_of(request.url)):  # tests only (see memory_probe.py)
            return runtime.memory_probe.serve(request, _services)
        if runtime.fault_hook.is_route(self.env, _path_of(request.url)):  # tests only (see fault_hook.py)
            return await runtime.within(self.env, self.ctx, lambda: runtime.fault_hook.serve(request))
        bounded = _BoundedRequest(request, body_limit(_app, str(request.method), _path_of(request.url)))
        return await runtime.within(self.env, self.ctx, lambda: asgi.fetch(_app, bounded, self.env, self.ctx))

    async def _rpc(self, name, arg=None):
        services = _services_for(self.env)
        result = await runtime.within(self.env, self.ctx, lambda: rpc.call(services, name, runtime.from_js_arg(arg)))
        return runtime.to_js_result(result)

    async def queue(self, batch, env=None, ctx=None):
        """The JOBS queue's consumer: batch items and async jobs (pipeline.queued.consumer)."""
        services = _services_for(self.env)
        messages = runtime.queue_messages(batch)
        await runtime.within(self.env, ctx or self.ctx, lambda: consumer.consume(services, messages))

    async def scheduled(self, controller, env=None, ctx=None):
        services = _services_for(self.env)
        cron, when = str(controller.cron), int(controller.scheduledTime)
        await runtime.within(self.env, ctx or self.ctx, lambda: maintenance.scheduled(services, cron, when))


def _rpc_method(name):
    async def method(self, arg=None):
        return await self._rpc(name, arg)

    method.__name__ = method.__qualname__ = name
    op = rpc.OPERATIONS[name]
    method.__doc__ = f"RPC: {op.method} {op.path}; plain object in, {{ok, result | error}} out."
    return method


# RPC over service bindings: one method of the entrypoint per operation of rpc.OPERATIONS,
# each running that operation's HTTP route in-process (`env.IMAGE.generate({...})`).
for _name in rpc.OPERATIONS:
    setattr(Default, _name, _rpc_method(_name))


class BudgetLedger(DurableObject):
    """The one ledger (idFromName("global")). Its methods run one at a time between
    awaits, and the ledger's methods never await between read and write. One RPC method
    per method of the Ledger port (below), each serving it through ledger/wire.py."""

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self._ledger = LedgerService(runtime.ledger_storage(ctx), SystemClock())


def _ledger_method(name):
    async def method(self, *args):
        return runtime.to_js_result(await wire.serve(self._ledger, name, tuple(runtime.from_js_arg(a) for a in args)))

    method.__name__ = method.__qualname__ = name
    return method


for _name in wire.methods():
    setattr(BudgetLedger, _name, _ledger_method(_name))
