"""D1 under CPython: a real SQLite database with the same migrations applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Sequence

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class SqliteDatabase:
    """The Database port over sqlite3. D1 is SQLite; like D1, foreign keys are enforced."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            # WAL with synchronous=NORMAL survives a crash of the process (not of the machine's
            # power) without an fsync per commit, which was most of the local overhead.
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")

    def apply_migrations(self, folder: Path = MIGRATIONS) -> list[str]:
        """Apply `migrations/*.sql` in order, once each (tracked like wrangler's d1_migrations)."""
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TEXT)"
        )
        done = {r[0] for r in self._conn.execute("SELECT name FROM d1_migrations")}
        applied = []
        for file in sorted(folder.glob("*.sql")):
            if file.name in done:
                continue
            self._conn.executescript("BEGIN;\n" + file.read_text() + "\nCOMMIT;")
            self._conn.execute("INSERT INTO d1_migrations (name, applied_at) VALUES (?, datetime('now'))", (file.name,))
            applied.append(file.name)
        return applied

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute(sql, tuple(params)).fetchall()]

    async def first(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row = self._conn.execute(sql, tuple(params)).fetchone()
        return dict(row) if row is not None else None

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(params)).rowcount

    async def batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        self._conn.execute("BEGIN")
        try:
            for sql, params in statements:
                self._conn.execute(sql, tuple(params))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()
