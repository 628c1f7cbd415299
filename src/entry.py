"""The Worker: wiring only. HTTP goes to the FastAPI app, service-binding RPC to
pipeline.api.rpc, the cron to pipeline.maintenance, and the ledger Durable Object
forwards to pipeline.ledger.service. Everything else lives in src/pipeline/."""

from workers import DurableObject, WorkerEntrypoint

_services = None
_app = None


def _services_for(env):
    """Build the services and the app once per isolate (env is the same for its lifetime)."""
    global _services, _app
    if _services is None:
        from pipeline import runtime
        from pipeline.api.app import create_app

        _services = runtime.build_services(env)
        _app = create_app(_services)
    return _services


async def _rpc(env, name, *args):
    from pipeline.api import rpc
    from pipeline import runtime

    result = await getattr(rpc, name)(_services_for(env), *[runtime.from_js_arg(a) for a in args])
    return runtime.to_js_result(result)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        from workers import asgi

        _services_for(self.env)
        return await asgi.fetch(_app, request, self.env)

    # --- RPC over service bindings: plain objects in, {ok, result | error} out ---

    async def generate(self, payload):
        return await _rpc(self.env, "generate", payload)

    async def get_generation(self, request_id):
        return await _rpc(self.env, "get_generation", request_id)

    async def estimate(self, payload):
        return await _rpc(self.env, "estimate", payload)

    async def providers(self, params=None):
        return await _rpc(self.env, "providers", params)

    async def edit(self, payload):
        return await _rpc(self.env, "edit", payload)

    async def list_generations(self, params=None):
        return await _rpc(self.env, "list_generations", params)

    async def link(self, payload):
        return await _rpc(self.env, "link", payload)

    async def unlink(self, payload):
        return await _rpc(self.env, "unlink", payload)

    async def entity_images(self, params):
        return await _rpc(self.env, "entity_images", params)

    async def usage(self, params=None):
        return await _rpc(self.env, "usage", params)

    async def get_budget(self):
        return await _rpc(self.env, "get_budget")

    async def put_budget(self, changes):
        return await _rpc(self.env, "put_budget", changes)

    async def scheduled(self, controller, env=None, ctx=None):
        from pipeline import maintenance

        await maintenance.scheduled(_services_for(self.env), str(controller.cron), int(controller.scheduledTime))


class BudgetLedger(DurableObject):
    """The one ledger (idFromName("global")). Its methods run one at a time between
    awaits, and the ledger's methods never await between read and write."""

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        from pipeline import runtime
        from pipeline.clock import SystemClock
        from pipeline.ledger.service import LedgerService

        self._rt = runtime
        self._ledger = LedgerService(runtime.ledger_storage(ctx), SystemClock())

    def _out(self, value):
        return self._rt.to_js_result(value)

    def _in(self, value):
        return self._rt.from_js_arg(value)

    async def reserve(self, request):
        return self._out(await self._ledger.reserve(self._in(request)))

    async def settle(self, request_id, actual_micros, details=None):
        return self._out(await self._ledger.settle(str(request_id), int(actual_micros), self._in(details)))

    async def release(self, request_id, reason):
        return self._out(await self._ledger.release(str(request_id), str(reason)))

    async def reconcile(self, spent):
        return self._out(await self._ledger.reconcile(self._in(spent)))

    async def acquire_slot(self, request_id, provider, wait_s):
        return self._out(await self._ledger.acquire_slot(str(request_id), str(provider), float(wait_s)))

    async def release_slot(self, request_id, provider):
        return self._out(await self._ledger.release_slot(str(request_id), str(provider)))

    async def get_config(self):
        return self._out(await self._ledger.get_config())

    async def put_config(self, changes):
        from pipeline.errors import ImageWorkerError

        try:
            return self._out({"config": await self._ledger.put_config(self._in(changes))})
        except ImageWorkerError as exc:
            return self._out({"error": exc.to_dict()})

    async def usage(self, day_from, day_to):
        return self._out(await self._ledger.usage(str(day_from), str(day_to)))

    async def sweep(self):
        return self._out(await self._ledger.sweep())
