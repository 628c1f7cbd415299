"""The ports: every effect the core has goes through one of these Protocols.

On Cloudflare, `runtime/` implements them over the bindings (D1, R2, the
ledger Durable Object, Workers AI, fetch). Under CPython, `local/` implements
them over SQLite, a folder, an in-process ledger and httpx. The core only ever
sees these shapes: plain bytes, strings, dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
import asyncio
from typing import Any, AsyncContextManager, AsyncIterator, Protocol, Sequence

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
    """Budget and concurrency accounting; see ledger.py. Dicts in, dicts out,
    because on Cloudflare every call crosses an RPC boundary to the Durable Object."""

    async def reserve(self, request: dict[str, Any]) -> dict[str, Any]: ...

    async def settle(self, request_id: str, actual_micros: int, details: dict[str, Any] | None = None) -> dict[str, Any]: ...

    async def release(self, request_id: str, reason: str) -> dict[str, Any]: ...

    async def reconcile(self, spent: list[dict[str, Any]]) -> dict[str, Any]: ...

    async def acquire_slot(self, request_id: str, provider: str, wait_s: float) -> dict[str, Any]: ...

    async def release_slot(self, request_id: str, provider: str) -> dict[str, Any]: ...

    async def get_config(self) -> dict[str, Any]: ...

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]: ...

    async def usage(self, day_from: str, day_to: str) -> dict[str, Any]: ...

    async def sweep(self) -> dict[str, Any]: ...


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
    """A producer: JSON-able dicts in. The consumer (generation/batches.consume) gets
    them back as plain dicts {id, body, attempts, ack, retry}; unacked ones come again."""

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None: ...

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None: ...
