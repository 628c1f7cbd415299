"""D1 rows of the economy lane: provider batches and economy items (migration 0009).

A provider batch moves planned → submitting → submitted → collecting → done and
never back; an economy item open → settled | released. Every write is guarded by
the state it expects, so a redelivered message cannot undo or repeat a step."""

from __future__ import annotations

import json
from typing import Any, Sequence

from ..ports import Database

Statement = tuple[str, tuple[Any, ...]]


def plan_statements(batch_id: str, groups: Sequence[tuple[str, str, str, list[int]]],
                    warnings: dict[int, str], now: str) -> list[Statement]:
    """Statements that record the provider batches (id, provider, model, item indexes) and
    each item's lane, run in the same D1 batch that creates the batch and its items."""
    out: list[Statement] = []
    for pb_id, provider, model, indexes in groups:
        out.append(("INSERT INTO provider_batches (id, batch_id, provider, model, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, 'planned', ?, ?)", (pb_id, batch_id, provider, model, now, now)))
        out += [("UPDATE batch_items SET lane = 'economy', provider_batch = ? WHERE batch_id = ? AND idx = ?",
                 (pb_id, batch_id, idx)) for idx in indexes]
    out += [("UPDATE batch_items SET warnings = ? WHERE batch_id = ? AND idx = ?", (json.dumps([w]), batch_id, idx))
            for idx, w in warnings.items()]
    return out


async def provider_batch(db: Database, pb_id: str) -> dict[str, Any] | None:
    return await db.first("SELECT * FROM provider_batches WHERE id = ?", (pb_id,))


async def provider_batches(db: Database, batch_id: str) -> list[dict[str, Any]]:
    return await db.all("SELECT * FROM provider_batches WHERE batch_id = ? ORDER BY id", (batch_id,))


async def group_items(db: Database, pb_id: str) -> list[dict[str, Any]]:
    """The provider batch's items, with the key that submitted their batch (`api_key_id`)."""
    return await db.all("SELECT i.*, b.api_key_id FROM batch_items i JOIN batches b ON b.id = i.batch_id"
                        " WHERE i.provider_batch = ? ORDER BY i.idx", (pb_id,))


async def claim_request_id(db: Database, batch_id: str, idx: int, request_id: str, now: str) -> str:
    """The item's generation id: the first one proposed wins, so redeliveries agree."""
    await db.run("UPDATE batch_items SET request_id = COALESCE(request_id, ?), updated_at = ? WHERE batch_id = ? AND idx = ?",
                 (request_id, now, batch_id, idx))
    row = await db.first("SELECT request_id FROM batch_items WHERE batch_id = ? AND idx = ?", (batch_id, idx))
    assert row is not None
    return str(row["request_id"])


async def add_item(db: Database, *, request_id: str, pb_id: str, batch_id: str, idx: int, custom_id: str,
                   preq: dict[str, Any], day: str, reserved: int, now: str) -> None:
    await db.run(
        "INSERT OR IGNORE INTO economy_items (request_id, provider_batch, batch_id, idx, custom_id, preq, day, state,"
        " reserved_micros, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?)",
        (request_id, pb_id, batch_id, idx, custom_id, json.dumps(preq, sort_keys=True), day, reserved, now),
    )


async def items(db: Database, pb_id: str, state: str | None = None) -> list[dict[str, Any]]:
    if state is None:
        return await db.all("SELECT * FROM economy_items WHERE provider_batch = ? ORDER BY idx", (pb_id,))
    return await db.all("SELECT * FROM economy_items WHERE provider_batch = ? AND state = ? ORDER BY idx", (pb_id, state))


async def close_item(db: Database, request_id: str, *, state: str, charged: int, standard: int, now: str) -> bool:
    assert state in ("settled", "released")
    changed = await db.run(
        "UPDATE economy_items SET state = ?, charged_micros = ?, standard_micros = ?, updated_at = ?"
        " WHERE request_id = ? AND state = 'open'", (state, charged, standard, now, request_id))
    return changed > 0


async def move(db: Database, pb_id: str, *, to: str, frm: Sequence[str], now: str, **fields: Any) -> bool:
    """Advance a provider batch from one of `frm` to `to`, setting `fields`; True if it moved."""
    sets = "".join(f", {k} = ?" for k in fields)
    marks = ", ".join("?" for _ in frm)
    changed = await db.run(
        f"UPDATE provider_batches SET state = ?, updated_at = ?{sets} WHERE id = ? AND state IN ({marks})",
        (to, now, *fields.values(), pb_id, *frm))
    return changed > 0


async def update(db: Database, pb_id: str, now: str, **fields: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in fields)
    await db.run(f"UPDATE provider_batches SET {sets}, updated_at = ? WHERE id = ?", (*fields.values(), now, pb_id))


async def claim_call(db: Database, pb_id: str, limit: int) -> bool:
    """Count one provider call for this batch; False once the bound is reached."""
    return await db.run("UPDATE provider_batches SET calls = calls + 1 WHERE id = ? AND calls < ?", (pb_id, limit)) > 0


async def advance_polls(db: Database, pb_id: str, seq: int, next_poll_at: str, now: str) -> bool:
    """The poll `seq` is done and `seq + 1` is scheduled; a duplicate of `seq` then finds it stale."""
    return await db.run(
        "UPDATE provider_batches SET polls = ?, next_poll_at = ?, updated_at = ? WHERE id = ? AND polls = ?",
        (seq + 1, next_poll_at, now, pb_id, seq)) > 0


async def stalled(db: Database, before: str, limit: int = 50) -> list[dict[str, Any]]:
    """Open provider batches whose next step is long overdue (a lost queue message)."""
    return await db.all(
        "SELECT * FROM provider_batches WHERE state != 'done' AND COALESCE(next_poll_at, updated_at) < ?"
        " ORDER BY updated_at LIMIT ?", (before, limit))


async def lane_totals(db: Database, day_from: str, day_to: str) -> list[dict[str, Any]]:
    """Per day: what the economy lane charged and what the same usage costs in the standard lane."""
    return await db.all(
        "SELECT day, COUNT(*) AS requests, SUM(charged_micros) AS spent_micros, SUM(standard_micros) AS standard_micros,"
        " SUM(CASE WHEN state = 'open' THEN reserved_micros ELSE 0 END) AS open_micros"
        " FROM economy_items WHERE day BETWEEN ? AND ? GROUP BY day ORDER BY day", (day_from, day_to))
