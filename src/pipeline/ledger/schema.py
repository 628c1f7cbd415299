"""The ledger's tables, their upgrades, and the running day totals.

The Durable Object's SQLite has no wrangler migrations: the schema is created
and upgraded here, step by numbered step, recorded in `ledger_meta`. Each step
upgrades existing data (the day totals are back-filled from the rows).

Day totals are what make a reserve cost the same at the first and the
100,000th request of a day: the budget check reads two rows by primary key
instead of summing the day's reservations."""

from __future__ import annotations

from typing import Any, Protocol

GLOBAL = "*"  # the day_totals row for everyone; callers' rows use their own name


class SqlStorage(Protocol):
    """`ctx.storage.sql.exec(sql, *params).toArray()` as a list of dicts."""

    def exec(self, sql: str, *params: Any) -> list[dict[str, Any]]: ...


_V1 = (
    "CREATE TABLE IF NOT EXISTS ledger_config (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reservations ("
    " request_id TEXT PRIMARY KEY, caller TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,"
    " day TEXT NOT NULL, images INTEGER NOT NULL, reserved_micros INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('reserved', 'settled', 'released', 'expired')),"
    " charged_micros INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " closed_ms INTEGER, close_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS reservations_open ON reservations (state, expires_ms)",
    "CREATE INDEX IF NOT EXISTS reservations_day ON reservations (day, caller)",
    "CREATE TABLE IF NOT EXISTS refusals (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
    " day TEXT NOT NULL, caller TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL,"
    " estimate_micros INTEGER NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS refusals_day ON refusals (day)",
    "CREATE TABLE IF NOT EXISTS slots (request_id TEXT NOT NULL, provider TEXT NOT NULL,"
    " acquired_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (request_id, provider))",
    "CREATE TABLE IF NOT EXISTS ledger_events (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, micros INTEGER NOT NULL DEFAULT 0, detail TEXT, at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ledger_events_request ON ledger_events (request_id)",
)

# Numbered upgrades, applied once each, in order, to old and new storage alike.
_UPGRADES: tuple[tuple[str, ...], ...] = (
    (
        # how long this request may hold money and slots at least (its own deadline plus a margin)
        "ALTER TABLE reservations ADD COLUMN hold_ms INTEGER NOT NULL DEFAULT 0",
        # 0: handed to a waiter who has not yet confirmed it (a short claim lease)
        "ALTER TABLE slots ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 1",
        "CREATE TABLE IF NOT EXISTS day_totals (day TEXT NOT NULL, caller TEXT NOT NULL,"
        " spent_micros INTEGER NOT NULL DEFAULT 0, reserved_micros INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (day, caller))",
        "INSERT INTO day_totals (day, caller, spent_micros, reserved_micros)"
        " SELECT day, caller, SUM(CASE WHEN state = 'settled' THEN charged_micros ELSE 0 END),"
        " SUM(CASE WHEN state = 'reserved' THEN reserved_micros ELSE 0 END) FROM reservations GROUP BY day, caller",
        "INSERT INTO day_totals (day, caller, spent_micros, reserved_micros)"
        " SELECT day, '*', SUM(spent_micros), SUM(reserved_micros) FROM day_totals GROUP BY day",
        "CREATE INDEX IF NOT EXISTS ledger_events_at ON ledger_events (at_ms)",
        "CREATE INDEX IF NOT EXISTS slots_expiry ON slots (expires_ms)",
    ),
    (
        # the API key that asked (NULL: the API_TOKEN, the service binding, the open local API);
        # a key's daily budget is held here like a caller's, so it holds under concurrency
        "ALTER TABLE reservations ADD COLUMN key_id TEXT",
        "CREATE TABLE IF NOT EXISTS key_day_totals (day TEXT NOT NULL, key_id TEXT NOT NULL,"
        " spent_micros INTEGER NOT NULL DEFAULT 0, reserved_micros INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (day, key_id))",
    ),
    (
        # one breaker per provider instance and model (breaker.py), and its recent calls
        "CREATE TABLE IF NOT EXISTS breakers (provider TEXT NOT NULL, model TEXT NOT NULL,"
        " state TEXT NOT NULL CHECK (state IN ('closed', 'open', 'half_open')), since_ms INTEGER NOT NULL,"
        " open_until_ms INTEGER, probe_request TEXT, probe_until_ms INTEGER, held_until_ms INTEGER,"
        " PRIMARY KEY (provider, model))",
        "CREATE TABLE IF NOT EXISTS breaker_calls (id INTEGER PRIMARY KEY AUTOINCREMENT, provider TEXT NOT NULL,"
        " model TEXT NOT NULL, at_ms INTEGER NOT NULL, failed INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS breaker_calls_recent ON breaker_calls (provider, model, at_ms)",
    ),
)


def ensure_schema(sql: SqlStorage) -> int:
    """Create the tables and apply pending upgrades; return the schema version."""
    for statement in _V1:
        sql.exec(statement)
    sql.exec("CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    rows = sql.exec("SELECT value FROM ledger_meta WHERE key = 'schema_version'")
    version = int(rows[0]["value"]) if rows else 1
    for number, statements in enumerate(_UPGRADES, start=2):
        if version >= number:
            continue
        for statement in statements:
            sql.exec(statement)
        version = number
        sql.exec(
            "INSERT INTO ledger_meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            version,
        )
    return version


def add_totals(sql: SqlStorage, day: str, caller: str, spent: int = 0, reserved: int = 0,
               key_id: str | None = None) -> None:
    """Move the running totals of a day for the caller, for everyone, and for the API key."""
    if not spent and not reserved:
        return
    for who in (caller, GLOBAL):
        sql.exec(
            "INSERT INTO day_totals (day, caller, spent_micros, reserved_micros) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (day, caller) DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros,"
            " reserved_micros = reserved_micros + excluded.reserved_micros",
            day, who, int(spent), int(reserved),
        )
    if key_id:
        sql.exec(
            "INSERT INTO key_day_totals (day, key_id, spent_micros, reserved_micros) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (day, key_id) DO UPDATE SET spent_micros = spent_micros + excluded.spent_micros,"
            " reserved_micros = reserved_micros + excluded.reserved_micros",
            day, key_id, int(spent), int(reserved),
        )


def held(sql: SqlStorage, day: str, caller: str | None = None) -> tuple[int, int]:
    """(spent, reserved-and-open) of a UTC day, for everyone or one caller: one row."""
    rows = sql.exec(
        "SELECT spent_micros, reserved_micros FROM day_totals WHERE day = ? AND caller = ?",
        day, GLOBAL if caller is None else caller,
    )
    return (int(rows[0]["spent_micros"]), int(rows[0]["reserved_micros"])) if rows else (0, 0)


def key_held(sql: SqlStorage, day: str, key_id: str) -> tuple[int, int]:
    """(spent, reserved-and-open) of a UTC day for one API key: one row."""
    rows = sql.exec("SELECT spent_micros, reserved_micros FROM key_day_totals WHERE day = ? AND key_id = ?", day, key_id)
    return (int(rows[0]["spent_micros"]), int(rows[0]["reserved_micros"])) if rows else (0, 0)


def prune(sql: SqlStorage, before_day: str, before_ms: int) -> dict[str, int]:
    """Forget closed rows of days long past (the usage roll-up in D1 keeps the history)."""
    counts = {}
    for table, where, param in (
        ("reservations", "day < ? AND state != 'reserved'", before_day),
        ("refusals", "day < ?", before_day),
        ("ledger_events", "at_ms < ?", before_ms),
        ("day_totals", "day < ?", before_day),
        ("key_day_totals", "day < ?", before_day),
    ):
        n = sql.exec(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", param)[0]["n"]
        if n:
            sql.exec(f"DELETE FROM {table} WHERE {where}", param)
        counts[table] = int(n)
    return counts
