"""Our own bindings' failures as typed errors.

A D1 query, an R2 put, a ledger (Durable Object) call or a queue send can fail on
Cloudflare for reasons of its own (network, overload, an object reset); the host raises
whatever JS or Python raised. A generation sees the ports through these wrappers, so
such a failure reaches the caller as `storage_unavailable`, `ledger_unavailable` or
`queue_unavailable` (503, retryable, Retry-After) with the request id, never as a bare
`internal_error`. Typed errors pass through untouched; cancellation is never caught."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from . import errors
from .ports import Database, ForwardingLedger, Ledger, ObjectStore, Params, Queue, StoredObject
from .services import Services

T = TypeVar("T")


async def typed(make: type[errors.BindingUnavailable], what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one binding call; a failure that is not already typed becomes `make`."""
    try:
        return await call()
    except errors.ImageWorkerError:
        raise
    except Exception as exc:  # any binding failure, whatever the host raised
        raise make(f"{what} failed ({type(exc).__name__}); retry shortly",
                   details={"binding": what, "cause": type(exc).__name__}) from exc


class GuardedDatabase:
    """D1 failures as `storage_unavailable`."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner

    async def all(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        return await typed(errors.StorageUnavailable, "D1", lambda: self.inner.all(sql, params))

    async def first(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        return await typed(errors.StorageUnavailable, "D1", lambda: self.inner.first(sql, params))

    async def run(self, sql: str, params: Params = ()) -> int:
        return await typed(errors.StorageUnavailable, "D1", lambda: self.inner.run(sql, params))

    async def batch(self, statements: Sequence[tuple[str, Params]]) -> None:
        return await typed(errors.StorageUnavailable, "D1", lambda: self.inner.batch(statements))


class GuardedObjectStore:
    """R2 failures as `storage_unavailable`."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner

    async def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        return await typed(errors.StorageUnavailable, "R2", lambda: self.inner.put(key, body, content_type, metadata))

    async def get(self, key: str) -> StoredObject | None:
        return await typed(errors.StorageUnavailable, "R2", lambda: self.inner.get(key))

    async def delete(self, key: str) -> None:
        return await typed(errors.StorageUnavailable, "R2", lambda: self.inner.delete(key))


class GuardedLedger(ForwardingLedger):
    """Ledger (Durable Object) failures as `ledger_unavailable`."""

    def __init__(self, inner: Ledger) -> None:
        self.inner = inner

    async def forward(self, method: str, *args: Any) -> Any:
        return await typed(errors.LedgerUnavailable, "ledger", lambda: getattr(self.inner, method)(*args))


class GuardedQueue:
    """Queue send failures as `queue_unavailable`."""

    def __init__(self, inner: Queue) -> None:
        self.inner = inner

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None:
        return await typed(errors.QueueUnavailable, "queue", lambda: self.inner.send(body, delay_s))

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None:
        return await typed(errors.QueueUnavailable, "queue", lambda: self.inner.send_batch(bodies))


def guarded(s: Services) -> Services:
    """The same services, their bindings' failures typed. Idempotent."""
    if isinstance(s.db, GuardedDatabase):
        return s
    return replace(s, db=GuardedDatabase(s.db), objects=GuardedObjectStore(s.objects), ledger=GuardedLedger(s.ledger),
                   queue=GuardedQueue(s.queue) if s.queue is not None else None)
