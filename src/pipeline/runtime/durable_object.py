"""The ledger's Durable Object, both sides: the Ledger port (ports.py) as RPC calls on the
one global object (`DurableLedger`, used by every request), and the object's own SQLite
as the ledger core's storage (`ledger_storage`, used by entry.BudgetLedger)."""

from __future__ import annotations

from typing import Any

from .. import errors
from .scope import current
from .values import js_value, py_value, sql_param, unwrap


class DurableObjectSql:
    """`SqlStorage` (ledger/core.py) over `ctx.storage.sql`: synchronous, rows as dicts."""

    def __init__(self, sql: Any) -> None:
        self._sql = sql

    def exec(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        """Run one statement; its rows."""
        cursor = self._sql.exec(sql, *[sql_param(p) for p in params])
        return [dict(row) for row in (py_value(cursor.toArray()) or [])]


def ledger_storage(ctx: Any) -> DurableObjectSql:
    """The Durable Object's own SQLite (its ctx lives as long as the object)."""
    return DurableObjectSql(unwrap(ctx).storage.sql)


class DurableLedger:
    """The Ledger port as RPC calls on entry.BudgetLedger, one method each, dicts in and out.
    The stub is the current request's (a stub kept across requests fails with cross-request I/O)."""

    async def _call(self, method: str, *args: Any) -> Any:
        stub = current().ledger_stub()
        return py_value(await getattr(stub, method)(*[js_value(a) for a in args]))

    async def reserve(self, request: dict[str, Any]) -> dict[str, Any]:
        """Hold a request's estimate within the caps and budgets (with `slot`, also take a slot)."""
        return await self._call("reserve", request)

    async def settle(self, request_id: str, actual_micros: int, details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Charge what the request cost and free the rest of its reservation."""
        return await self._call("settle", request_id, actual_micros, details)

    async def release(self, request_id: str, reason: str) -> dict[str, Any]:
        """Give the held money back (nothing was billed) and the request's slots."""
        return await self._call("release", request_id, reason)

    async def reconcile(self, spent: list[dict[str, Any]]) -> dict[str, Any]:
        """Charge spend D1 recorded that the ledger has not seen settled."""
        return await self._call("reconcile", spent)

    async def acquire_slot(self, request_id: str, provider: str, wait_s: float) -> dict[str, Any]:
        """One of a provider's concurrency slots, waiting up to `wait_s`."""
        return await self._call("acquire_slot", request_id, provider, wait_s)

    async def release_slot(self, request_id: str, provider: str) -> dict[str, Any]:
        """Give a concurrency slot back."""
        return await self._call("release_slot", request_id, provider)

    async def get_config(self) -> dict[str, Any]:
        """The caps and budgets in force."""
        return await self._call("get_config")

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Change caps and budgets; a refused change raises its typed error here."""
        answer = await self._call("put_config", changes)
        if "error" in answer:  # typed errors cross the RPC boundary as data
            raise errors.from_dict(answer["error"])
        return answer["config"]

    async def usage(self, day_from: str, day_to: str) -> dict[str, Any]:
        """Spending between two UTC days, and the budget's status."""
        return await self._call("usage", day_from, day_to)

    async def sweep(self) -> dict[str, Any]:
        """Expire stale leases, hand freed slots on, prune old rows (the cron)."""
        return await self._call("sweep")
