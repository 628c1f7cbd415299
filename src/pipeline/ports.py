"""The ports: every effect the core has goes through one of these Protocols.

On Cloudflare, `runtime/` implements them over the bindings (D1, R2, the
ledger Durable Object, Workers AI, fetch). Under CPython, `local/` implements
them over SQLite, a folder, an in-process ledger and httpx. The core only ever
sees these shapes: plain bytes, strings, dicts, and the ledger's dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import asyncio
from typing import Any, AsyncContextManager, AsyncIterator, Protocol, Sequence

from .ledger_messages import (ProviderState, ReconcileAnswer, ReleaseAnswer, ReleaseRequest, ReserveAnswer, ReserveRequest,
                              SettleAnswer, SettleRequest, SlotAnswer, SlotRelease, SlotReleased, SweepAnswer,
                              UsageReport)

# --- HTTP -------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout_s: float = 120.0
    follow_redirects: bool = True  # False: a 3xx is the answer (webhooks: a caller-aimed URL may not bounce inward)


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # keys lower-cased
    body: bytes


class HttpStream(Protocol):
    """An open response whose body is read incrementally."""

    status: int
    headers: dict[str, str]

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aread(self) -> bytes: ...


class HttpClient(Protocol):
    """Send a request. On transport failure raise `ProviderTimeout` or
    `ProviderUnavailable` (errors.py); any HTTP status is a response, not an error."""

    async def send(self, request: HttpRequest) -> HttpResponse: ...

    def stream(self, request: HttpRequest) -> AsyncContextManager[HttpStream]: ...


# --- D1 ---------------------------------------------------------------------

Params = Sequence[Any]


class Database(Protocol):
    """D1's shape: parameterised SQL, rows as dicts, atomic batches."""

    async def all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]: ...

    async def first(self, sql: str, params: Params = ()) -> dict[str, Any] | None: ...

    async def run(self, sql: str, params: Params = ()) -> int:
        """Execute one statement; return the number of rows changed."""
        ...

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> None:
        """Run statements in order, all or nothing (D1 `batch`)."""
        ...


# --- R2 ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoredObject:
    body: bytes
    content_type: str
    etag: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)  # the custom metadata it was put with (str -> str)


class ObjectStore(Protocol):
    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None: ...

    async def get(self, key: str) -> StoredObject | None: ...

    async def delete(self, key: str) -> None: ...


# --- Images (transformations for delivery) ---------------------------------------


class ImageTransformer(Protocol):
    """Resize and re-encode one image: the Images binding on Workers, Pillow under CPython.
    `transform` and `output` are the binding's own options (delivery/spec.py Rendition);
    returns the encoded bytes. Raise `errors.InvalidRequest` for an image it cannot read."""

    async def transform(self, data: bytes, transform: dict[str, Any], output: dict[str, Any]) -> bytes: ...


# --- Workers AI ---------------------------------------------------------------


class AiBinding(Protocol):
    """`env.AI.run(model, inputs)`: returns the model's JSON output as a dict."""

    async def run(self, model: str, inputs: dict[str, Any]) -> dict[str, Any]: ...


# --- Signing (service-account JWTs) -----------------------------------------------


class Signer(Protocol):
    """RSASSA-PKCS1-v1_5 with SHA-256 (JWT `RS256`) under a PEM PKCS#8 private key.
    WebCrypto in `runtime/crypto.py` on Workers; the `cryptography` package under CPython."""

    async def sign_rs256(self, private_key_pem: str, data: bytes) -> bytes: ...


# --- Clock ------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


# --- Ledger (the Durable Object) -----------------------------------------------


class Ledger(Protocol):
    """Budgets, concurrency, provider breakers and rates (ledger/). Typed requests and answers
    (ledger_messages.py); on Cloudflare every call crosses an RPC boundary to the Durable
    Object, serialised there only (ledger/wire.py reads the methods from this class)."""

    async def reserve(self, request: ReserveRequest) -> ReserveAnswer: ...

    async def settle(self, request: SettleRequest) -> SettleAnswer: ...

    async def release(self, request: ReleaseRequest) -> ReleaseAnswer: ...

    async def reconcile(self, spent: list[SettleRequest]) -> ReconcileAnswer: ...

    async def acquire_slot(self, request_id: str, provider: str, wait_s: float) -> SlotAnswer: ...

    async def release_slot(self, release: SlotRelease) -> SlotReleased: ...

    async def get_config(self) -> dict[str, Any]: ...

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]: ...

    async def usage(self, day_from: str, day_to: str) -> UsageReport: ...

    async def sweep(self) -> SweepAnswer: ...

    async def breakers(self) -> tuple[ProviderState, ...]: ...


class ForwardingLedger:
    """A Ledger that hands every method, by name, to `forward` (the wrappers of the port:
    guarded.py, fault_plan.py, the Durable Object's stub). One line per method."""

    async def forward(self, method: str, *args: Any) -> Any:
        raise NotImplementedError

    async def reserve(self, request: ReserveRequest) -> ReserveAnswer:
        return await self.forward("reserve", request)

    async def settle(self, request: SettleRequest) -> SettleAnswer:
        return await self.forward("settle", request)

    async def release(self, request: ReleaseRequest) -> ReleaseAnswer:
        return await self.forward("release", request)

    async def reconcile(self, spent: list[SettleRequest]) -> ReconcileAnswer:
        return await self.forward("reconcile", spent)

    async def acquire_slot(self, request_id: str, provider: str, wait_s: float) -> SlotAnswer:
        return await self.forward("acquire_slot", request_id, provider, wait_s)

    async def release_slot(self, release: SlotRelease) -> SlotReleased:
        return await self.forward("release_slot", release)

    async def get_config(self) -> dict[str, Any]:
        return await self.forward("get_config")

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        return await self.forward("put_config", changes)

    async def usage(self, day_from: str, day_to: str) -> UsageReport:
        return await self.forward("usage", day_from, day_to)

    async def sweep(self) -> SweepAnswer:
        return await self.forward("sweep")

    async def breakers(self) -> tuple[ProviderState, ...]:
        return await self.forward("breakers")


# --- Background work ------------------------------------------------------------


class Background(Protocol):
    """Keeps work alive after the response: `ctx.waitUntil` on Workers (the isolate is
    not torn down while it runs), a strong reference locally."""

    def keep_alive(self, task: asyncio.Future) -> None: ...


class InProcessBackground:
    """The local Background: holds tasks until they finish (asyncio keeps only weak refs)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future] = set()

    def keep_alive(self, task: asyncio.Future) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
# --- Queue (Cloudflare Queues) ----------------------------------------------------


class Queue(Protocol):
    """A producer: JSON-able dicts in. The consumer (queued/consumer.consume) gets
    them back as plain dicts {id, body, attempts, ack, retry}; unacked ones come again."""

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None: ...

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None: ...
