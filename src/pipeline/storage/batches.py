"""D1 rows for batches and async jobs: the batch, and one row per item.

An item's state only moves forward (queued → running → terminal); a terminal item
is never rewritten, so a redelivered message cannot undo a result."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..ports import Database

TERMINAL = ("succeeded", "failed", "refused")


async def create(
    db: Database, batch_id: str, *, kind: str, caller: str, bodies: Sequence[dict[str, Any]], webhook_url: str | None, now: str,
    lane: str = "standard", extra: Sequence[tuple[str, tuple[Any, ...]]] = (), api_key_id: str | None = None,
) -> None:
    """The batch and its items, plus `extra` statements (the economy lane's provider batches), atomically."""
    statements: list[tuple[str, tuple[Any, ...]]] = [(
        "INSERT INTO batches (id, kind, caller, status, total, webhook_url, created_at, updated_at, lane, api_key_id)"
        " VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
        (batch_id, kind, caller, len(bodies), webhook_url, now, now, lane, api_key_id),
    )]
    statements += [
        ("INSERT INTO batch_items (batch_id, idx, status, body, updated_at) VALUES (?, ?, 'queued', ?, ?)",
         (batch_id, idx, json.dumps(body, sort_keys=True), now))
        for idx, body in enumerate(bodies)
    ]
    await db.batch([*statements, *extra])


async def get(db: Database, batch_id: str) -> dict[str, Any] | None:
    return await db.first("SELECT * FROM batches WHERE id = ?", (batch_id,))


async def items(db: Database, batch_id: str) -> list[dict[str, Any]]:
    return await db.all(
        "SELECT idx, status, request_id, error, deliveries, updated_at, lane, warnings FROM batch_items WHERE batch_id = ? ORDER BY idx",
        (batch_id,),
    )


async def item(db: Database, batch_id: str, idx: int) -> dict[str, Any] | None:
    """The item, with the key that submitted its batch (`api_key_id`)."""
    return await db.first("SELECT i.*, b.api_key_id FROM batch_items i JOIN batches b ON b.id = i.batch_id"
                          " WHERE i.batch_id = ? AND i.idx = ?", (batch_id, idx))


async def start_item(db: Database, batch_id: str, idx: int, request_id: str, now: str) -> None:
    """Count the delivery; the item and its batch are running (unless already terminal)."""
    await db.batch([
        ("UPDATE batch_items SET status = 'running', deliveries = deliveries + 1, request_id = COALESCE(request_id, ?),"
         " updated_at = ? WHERE batch_id = ? AND idx = ? AND status IN ('queued', 'running')",
         (request_id, now, batch_id, idx)),
        ("UPDATE batches SET status = 'running', updated_at = ? WHERE id = ? AND status = 'queued'", (now, batch_id)),
    ])


async def finish_item(
    db: Database, batch_id: str, idx: int, *, status: str, request_id: str | None, error: dict[str, Any] | None, now: str
) -> bool:
    assert status in TERMINAL
    changed = await db.run(
        "UPDATE batch_items SET status = ?, request_id = ?, error = ?, updated_at = ?"
        " WHERE batch_id = ? AND idx = ? AND status IN ('queued', 'running')",
        (status, request_id, json.dumps(error) if error else None, now, batch_id, idx),
    )
    return changed > 0


async def fail_queued(db: Database, batch_id: str, error: dict[str, Any], now: str) -> None:
    """The queue refused the messages: the items will never run, so they end now."""
    await db.run(
        "UPDATE batch_items SET status = 'failed', error = ?, updated_at = ? WHERE batch_id = ? AND status = 'queued'",
        (json.dumps(error), now, batch_id),
    )


async def try_complete(db: Database, batch_id: str, now: str) -> bool:
    """Mark the batch completed if every item is terminal; True only for the one caller
    whose update did it (so the webhook is sent once, by that caller)."""
    changed = await db.run(
        "UPDATE batches SET status = 'completed', updated_at = ?, completed_at = ? WHERE id = ? AND status != 'completed'"
        " AND NOT EXISTS (SELECT 1 FROM batch_items WHERE batch_id = ? AND status IN ('queued', 'running'))",
        (now, now, batch_id, batch_id),
    )
    return changed > 0


async def record_webhook(db: Database, batch_id: str, *, delivered: bool, attempts: int, now: str) -> None:
    await db.run(
        "UPDATE batches SET webhook_status = ?, webhook_attempts = webhook_attempts + ?, updated_at = ? WHERE id = ?",
        ("delivered" if delivered else "failed", attempts, now, batch_id),
    )


# --- the cron's safety net (queued/rekick.py) ------------------------


async def overdue(db: Database, cutoff: str, limit: int) -> list[dict[str, Any]]:
    """Open batches not touched since `cutoff`, oldest first."""
    return await db.all("SELECT id, api_key_id, created_at FROM batches WHERE status != 'completed' AND updated_at <= ?"
                        " ORDER BY updated_at LIMIT ?", (cutoff, limit))


async def unfinished_standard_items(db: Database, batch_id: str) -> list[dict[str, Any]]:
    return await db.all("SELECT idx, status, request_id FROM batch_items WHERE batch_id = ? AND lane = 'standard'"
                        " AND status IN ('queued', 'running') ORDER BY idx", (batch_id,))


async def touch(db: Database, batch_id: str, now: str) -> None:
    await db.run("UPDATE batches SET updated_at = ? WHERE id = ?", (now, batch_id))


async def webhooks_due(db: Database, cutoff: str, limit: int) -> list[dict[str, Any]]:
    """Batches completed before `cutoff` whose webhook was never called (nor recorded as failed)."""
    return await db.all("SELECT * FROM batches WHERE status = 'completed' AND completed_at <= ?"
                        " AND webhook_url IS NOT NULL AND webhook_status IS NULL ORDER BY completed_at LIMIT ?",
                        (cutoff, limit))
