"""A fault plan for every effect port: make a port fail at its Nth call, or after its
Nth call succeeded on the far side (the write landed, the answer was lost), or stay
down from its Nth call on. For tests only: nothing builds a plan unless a test does
(CPython) or the host's test hook is switched on by a test setting (runtime/fault_hook.py).

Kinds:
- `fail`: the Nth call raises before it reaches the binding (nothing happened);
- `lost`: the Nth call reaches the binding, which does it; then the answer is lost;
- `down`: the Nth call and every later one fail (the binding is down for the rest
  of the run; `plan.heal()` brings it back, e.g. before the cron runs).

N counts every call of the port, or, when the fault names a `method`, every call of
that method (`db.batch` #1 is the first D1 batch, whatever reads came before it).

`wrap_ports(plan, ...)` puts each adapter under the plan before the services are built
(the providers keep their HTTP client); the plan records every call (`plan.calls`), so
a clean run lists the steps a matrix injects at."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, Callable, Sequence

from . import errors
from .ports import ForwardingLedger, HttpRequest, HttpResponse, Params, StoredObject
from .services import Services

KINDS = ("fail", "lost", "down")
PORTS = ("db", "objects", "ledger", "queue", "http", "images")
MAX_RECORDED_CALLS = 10_000  # a plan left on in a long test session stays small


class InjectedFault(RuntimeError):
    """What a binding raised: deliberately not a typed error (the host raises JS errors)."""


async def _raise_injected(message: str) -> None:
    raise InjectedFault(message)


@dataclass
class Fault:
    port: str
    nth: int  # 1-based, counting every call of that port (or of `method`, when given)
    kind: str = "fail"
    method: str | None = None

    def __post_init__(self) -> None:
        if self.port not in PORTS or self.kind not in KINDS or not isinstance(self.nth, int) or self.nth < 1:
            raise ValueError(f"not a fault: port {self.port!r} (one of {PORTS}), nth {self.nth!r} (>= 1),"
                             f" kind {self.kind!r} (one of {KINDS})")

    def matches(self, port: str, method: str, port_nth: int, method_nth: int) -> bool:
        if port != self.port or (self.method is not None and method != self.method):
            return False
        nth = port_nth if self.method is None else method_nth
        return nth == self.nth or (self.kind == "down" and nth >= self.nth)


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (port, method), in order
    fired: list[tuple[str, str, str]] = field(default_factory=list)  # (port, method, kind)
    healed: bool = False
    # How an injected failure is raised: an InjectedFault here, a JS Error in workerd.
    raise_fault: Callable[[str], Awaitable[None]] = _raise_injected

    @classmethod
    def from_dict(cls, data: Any) -> FaultPlan:
        """A plan from `{"faults": [{"port", "nth", "kind", "method"?}, ...]}`; ValueError if it is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("faults", []), list):
            raise ValueError('a plan is {"faults": [{"port": ..., "nth": ..., "kind": ...}, ...]}')
        faults = []
        for item in data.get("faults", []):
            if not isinstance(item, dict) or set(item) - {"port", "nth", "kind", "method"}:
                raise ValueError(f"not a fault: {item!r}")
            faults.append(Fault(item.get("port"), item.get("nth"), item.get("kind", "fail"), item.get("method")))
        return cls(faults)

    def to_dict(self) -> dict[str, Any]:
        return {"faults": [vars(f) for f in self.faults], "calls": [list(c) for c in self.calls],
                "fired": [list(f) for f in self.fired], "healed": self.healed}

    def heal(self) -> None:
        """Every port works again (and the calls from now on are not counted)."""
        self.healed = True

    def reset(self, faults: list[Fault]) -> None:
        """A new plan in place (the wrappers keep this object): `faults`, nothing counted yet."""
        self.faults, self.healed = list(faults), False
        self.calls.clear()
        self.fired.clear()

    def _kind(self, port: str, method: str) -> str | None:
        if self.healed or len(self.calls) >= MAX_RECORDED_CALLS:
            return None
        self.calls.append((port, method))
        port_nth = sum(1 for p, _ in self.calls if p == port)
        method_nth = sum(1 for c in self.calls if c == (port, method))
        for f in self.faults:
            if f.matches(port, method, port_nth, method_nth):
                self.fired.append((port, method, f.kind))
                return "fail" if f.kind == "down" else f.kind
        return None

    async def call(self, port: str, method: str, do: Callable[[], Awaitable[Any]]) -> Any:
        kind = self._kind(port, method)
        if kind == "fail":
            await self.raise_fault(f"injected: {port}.{method} failed")
        result = await do()
        if kind == "lost":
            await self.raise_fault(f"injected: {port}.{method} landed, its answer was lost")
        return result


class FaultyDatabase:
    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    async def all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        return await self.plan.call("db", "all", lambda: self.inner.all(sql, params))

    async def first(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        return await self.plan.call("db", "first", lambda: self.inner.first(sql, params))

    async def run(self, sql: str, params: Params = ()) -> int:
        return await self.plan.call("db", "run", lambda: self.inner.run(sql, params))

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> None:
        return await self.plan.call("db", "batch", lambda: self.inner.batch(statements))


class FaultyObjectStore:
    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        return await self.plan.call("objects", "put", lambda: self.inner.put(key, body, content_type, metadata))

    async def get(self, key: str) -> StoredObject | None:
        return await self.plan.call("objects", "get", lambda: self.inner.get(key))

    async def delete(self, key: str) -> None:
        return await self.plan.call("objects", "delete", lambda: self.inner.delete(key))


class FaultyLedger(ForwardingLedger):
    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    async def forward(self, method: str, *args: Any) -> Any:
        return await self.plan.call("ledger", method, lambda: getattr(self.inner, method)(*args))


class FaultyQueue:
    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None:
        return await self.plan.call("queue", "send", lambda: self.inner.send(body, delay_s))

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None:
        return await self.plan.call("queue", "send_batch", lambda: self.inner.send_batch(bodies))


class FaultyImages:
    """The image transformer (the Images binding; Pillow locally). `lost`: it transformed
    (and Cloudflare billed the transformation), the bytes never came back."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    async def transform(self, data: bytes, transform: dict[str, Any], output: dict[str, Any]) -> bytes:
        # The host turns whatever the binding raised into TransformFailed (runtime/bindings/images.py).
        try:
            return await self.plan.call("images", "transform", lambda: self.inner.transform(data, transform, output))
        except errors.ImageWorkerError:
            raise
        except Exception as exc:  # noqa: BLE001 - an injected failure, raised as the host raises it
            raise errors.TransformFailed(f"the Images binding failed: {exc}") from None


class FaultyHttp:
    """Outbound HTTP (the providers). `fail`: the connection is refused, nothing sent;
    `lost`: the provider got the request (and billed it), the answer never came back."""

    def __init__(self, inner: Any, plan: FaultPlan) -> None:
        self.inner, self.plan = inner, plan

    def _kind(self, method: str) -> str | None:
        return self.plan._kind("http", method)

    async def send(self, request: HttpRequest) -> HttpResponse:
        kind = self._kind("send")
        if kind == "fail":
            raise errors.ProviderUnavailable("injected: connection refused")
        response = await self.inner.send(request)
        if kind == "lost":
            raise errors.ProviderTimeout("injected: the answer was lost")
        return response

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[Any]:
        kind = self._kind("stream")
        if kind == "fail":
            raise errors.ProviderUnavailable("injected: connection refused")
        async with self.inner.stream(request) as response:
            if kind == "lost":
                await response.aread()
                raise errors.ProviderTimeout("injected: the answer was lost")
            yield response


def wrap_ports(plan: FaultPlan, ports: dict[str, Any]) -> dict[str, Any]:
    """The adapters (`db`, `objects`, `ledger`, `http`, `queue`, `images`; None stays None)
    under `plan`, before the services are built from them."""
    wrappers = {"db": FaultyDatabase, "objects": FaultyObjectStore, "ledger": FaultyLedger, "http": FaultyHttp,
                "queue": FaultyQueue, "images": FaultyImages}
    return {name: (wrappers[name](port, plan) if name in wrappers and port is not None else port)
            for name, port in ports.items()}


def faulty(s: Services, plan: FaultPlan) -> Services:
    """The same services with the binding ports under `plan`. The providers' HTTP client is
    fixed when the services are built: pass `http=FaultyHttp(HttpxClient(), plan)` then."""
    return replace(s, **wrap_ports(plan, {"db": s.db, "objects": s.objects, "ledger": s.ledger, "queue": s.queue,
                                          "images": s.images}))
