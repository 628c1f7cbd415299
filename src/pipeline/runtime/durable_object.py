"""The ledger's Durable Object, both sides: the Ledger port (ports.py) as RPC calls on the
one global object (`DurableLedger`, used by every request), and the object's own SQLite
as the ledger core's storage (`ledger_storage`, used by entry.BudgetLedger)."""

from __future__ import annotations

from typing import Any

from ..ledger import wire
from ..ports import ForwardingLedger
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


class DurableLedger(ForwardingLedger):
    """The Ledger port as RPC calls on entry.BudgetLedger, one named method each: the typed
    request as a plain object out, the typed answer (or typed error) back (ledger/wire.py).
    The stub is the current request's (a stub kept across requests fails with cross-request I/O)."""

    async def forward(self, method: str, *args: Any) -> Any:
        stub = current().ledger_stub()
        answer = py_value(await getattr(stub, method)(*[js_value(a) for a in wire.encode_call(method, args)]))
        return wire.answer_of(method, answer)
