"""Concurrency slots: provider calls in flight, globally and per provider.

A slot is a lease. Taken directly, it lasts as long as its request may run
(`hold_ms`, at least `slot_lease_s`). Handed to a waiter in the queue, it is
only a *claim* of `CLAIM_MS` until the waiter confirms it (by asking for it
again): a waiter whose caller disconnected or whose isolate died never
confirms, and its slot comes back within seconds, not after the full lease."""

from __future__ import annotations

from typing import Any

from .schema import SqlStorage

CLAIM_MS = 10_000


def _count(sql: SqlStorage, provider: str | None = None) -> int:
    if provider is None:
        return int(sql.exec("SELECT COUNT(*) AS n FROM slots")[0]["n"])
    return int(sql.exec("SELECT COUNT(*) AS n FROM slots WHERE provider = ?", provider)[0]["n"])


def try_acquire(
    sql: SqlStorage, request_id: str, provider: str, now_ms: int, cfg: dict[str, Any], lease_ms: int, *, claim: bool = False
) -> bool:
    """Take a slot if the global and the provider's limits allow. Asking again for a
    slot already held confirms it and renews its lease."""
    held = sql.exec("SELECT confirmed FROM slots WHERE request_id = ? AND provider = ?", request_id, provider)
    if held:
        if not claim:
            sql.exec("UPDATE slots SET confirmed = 1, expires_ms = MAX(expires_ms, ?) WHERE request_id = ? AND provider = ?",
                     now_ms + lease_ms, request_id, provider)
        return True
    if _count(sql) >= int(cfg["global_concurrency"]):
        return False
    limit = (cfg["provider_concurrency"] or {}).get(provider)
    if limit is not None and _count(sql, provider) >= int(limit):
        return False
    sql.exec(
        "INSERT INTO slots (request_id, provider, acquired_ms, expires_ms, confirmed) VALUES (?, ?, ?, ?, ?)",
        request_id, provider, now_ms, now_ms + (CLAIM_MS if claim else lease_ms), 0 if claim else 1,
    )
    return True


def release(sql: SqlStorage, request_id: str, provider: str | None = None) -> int:
    """Give back one slot, or every slot the request holds (provider None)."""
    where, params = ("request_id = ?", [request_id]) if provider is None else (
        "request_id = ? AND provider = ?", [request_id, provider])
    n = int(sql.exec(f"SELECT COUNT(*) AS n FROM slots WHERE {where}", *params)[0]["n"])
    if n:
        sql.exec(f"DELETE FROM slots WHERE {where}", *params)
    return n


def expired(sql: SqlStorage, now_ms: int) -> list[dict[str, Any]]:
    rows = sql.exec("SELECT request_id, provider, confirmed FROM slots WHERE expires_ms <= ?", now_ms)
    if rows:
        sql.exec("DELETE FROM slots WHERE expires_ms <= ?", now_ms)
    return rows


def next_expiry_ms(sql: SqlStorage) -> int | None:
    rows = sql.exec("SELECT MIN(expires_ms) AS m FROM slots")
    return int(rows[0]["m"]) if rows and rows[0]["m"] is not None else None


def drop_all(sql: SqlStorage) -> list[dict[str, Any]]:
    """Every slot, for a host that knows all holders died with it (local restart)."""
    rows = sql.exec("SELECT request_id, provider FROM slots")
    if rows:
        sql.exec("DELETE FROM slots")
    return rows
