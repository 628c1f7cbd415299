"""The Database port (ports.py) over a D1 binding (env.DB): rows as dicts."""

from __future__ import annotations

from typing import Any, Sequence

import js

from ..scope import current
from ..values import py_value, sql_param


class D1Database:
    """D1 by binding name; statements bind JS values (None as null, never undefined)."""

    def __init__(self, name: str = "DB") -> None:
        self._name = name

    def _statement(self, sql: str, params: Sequence[Any]) -> Any:
        stmt = current().binding(self._name).prepare(sql)
        return stmt.bind(*[sql_param(p) for p in params]) if params else stmt

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row."""
        result = py_value(await self._statement(sql, params).all()) or {}
        return [dict(row) for row in (result.get("results") or [])]

    async def first(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row, or None."""
        row = py_value(await self._statement(sql, params).first())
        return dict(row) if row else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The number of rows changed."""
        result = py_value(await self._statement(sql, params).run()) or {}
        return int((result.get("meta") or {}).get("changes") or 0)

    async def batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """All statements in one transaction: all or none."""
        # The array holds the JS statements themselves (no Python proxies that could be destroyed).
        array = js.Array.new()
        for sql, params in statements:
            array.push(self._statement(sql, params))
        await current().binding(self._name).batch(array)
