"""The ledger under CPython: the same LedgerService, over sqlite3 instead of a DO's storage."""

from __future__ import annotations

import sqlite3
from typing import Any

from pipeline.clock import SystemClock
from pipeline.ledger.service import LedgerService
from pipeline.ports import Clock


class SqliteSqlStorage:
    """`SqlStorage` over sqlite3: each statement commits at once, as in a Durable Object."""

    def __init__(self, path: str = ":memory:") -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")  # see local/db.py

    def exec(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in self._conn.execute(sql, params).fetchall()]


def local_ledger(path: str = ":memory:", clock: Clock | None = None) -> LedgerService:
    return LedgerService(SqliteSqlStorage(path), clock or SystemClock())
