"""What the cron reads and writes of requests it finishes (maintenance.py, recovery.py): stale
rows with what sweeping them needs, the R2 keys a request records, the exact charge of a
request that lived to settle, the attempts already recorded; the costed requests the spend
reconciliation sends the ledger, and its cursor (spend_reconciliation.py)."""

from __future__ import annotations

from typing import Any

from ..ports import Database


async def recorded_keys(db: Database, request_id: str) -> set[str]:
    """The R2 keys a request's image rows record."""
    return {r["r2_key"] for r in await db.all("SELECT r2_key FROM images WHERE request_id = ?", (request_id,))}


async def set_actual_cost(db: Database, request_id: str, micros: int) -> None:
    await db.run("UPDATE generation_requests SET actual_cost_micros = ? WHERE id = ?", (micros, request_id))


async def status_of(db: Database, request_id: str) -> str | None:
    row = await db.first("SELECT status FROM generation_requests WHERE id = ?", (request_id,))
    return str(row["status"]) if row else None


async def count_attempts(db: Database, request_id: str, provider: str) -> int:
    """The attempts recorded for a request on one provider (the next one's number follows)."""
    row = await db.first("SELECT COUNT(*) AS n FROM usage_events WHERE request_id = ? AND provider = ?",
                         (request_id, provider))
    return int(row["n"]) if row else 0


async def stale_for_sweep(db: Database, cutoff: str, limit: int = 100) -> list[dict[str, Any]]:
    """Requests still open since `cutoff`, with what the sweep needs to finish them: the
    spend their attempts recorded and their estimate. An economy generation waits for its
    provider batch (up to its window), not for an isolate, so it is not stale here."""
    return await db.all(
        "SELECT r.id, r.status, r.n, r.caller, r.provider, r.model, r.created_at, r.updated_at, r.links, r.warnings,"
        " COALESCE(r.estimated_cost_micros, 0) AS estimate,"
        " (SELECT COALESCE(SUM(u.cost_micros), 0) FROM usage_events u WHERE u.request_id = r.id) AS recorded"
        " FROM generation_requests r WHERE r.status IN ('pending', 'running') AND r.updated_at <= ?"
        " AND NOT EXISTS (SELECT 1 FROM economy_items e WHERE e.request_id = r.id AND e.state = 'open')"
        " ORDER BY r.updated_at LIMIT ?",
        (cutoff, limit),
    )


async def costed_since(db: Database, position: str, after_id: str, limit: int) -> list[dict[str, Any]]:
    """Finished requests with a cost, after (`updated_at`, id) = (position, after_id), in that order."""
    return await db.all(
        "SELECT id AS request_id, actual_cost_micros AS actual_micros, caller, provider, model, n AS images,"
        " api_key_id AS key_id, updated_at FROM generation_requests"
        " WHERE status IN ('succeeded', 'failed') AND actual_cost_micros > 0"
        " AND (updated_at > ? OR (updated_at = ? AND id > ?)) ORDER BY updated_at, id LIMIT ?",
        (position, position, after_id, limit),
    )


async def cursor(db: Database, name: str) -> dict[str, Any] | None:
    return await db.first("SELECT position, after_id FROM maintenance_cursors WHERE name = ?", (name,))


async def save_cursor(db: Database, name: str, position: str, after_id: str, now: str) -> None:
    await db.run(
        "INSERT INTO maintenance_cursors (name, position, after_id, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET position = excluded.position, after_id = excluded.after_id,"
        " updated_at = excluded.updated_at",
        (name, position, after_id, now),
    )
