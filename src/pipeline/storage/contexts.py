"""D1 rows for narrative context: entities' stored context, and what a request was sent.
An entity is its caller's (migration 0012): every statement names the caller."""

from __future__ import annotations

import json
from typing import Any

from ..ports import Database


async def get_entity_context(db: Database, caller: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
    row = await db.first(
        "SELECT context FROM entity_contexts WHERE caller = ? AND entity_type = ? AND entity_id = ?",
        (caller, entity_type, entity_id),
    )
    return json.loads(row["context"]) if row else None


async def put_entity_context(db: Database, caller: str, entity_type: str, entity_id: str, context: dict[str, Any],
                             now: str) -> None:
    await db.run(
        "INSERT INTO entity_contexts (caller, entity_type, entity_id, context, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (caller, entity_type, entity_id) DO UPDATE SET context = excluded.context,"
        " updated_at = excluded.updated_at",
        (caller, entity_type, entity_id, json.dumps(context, sort_keys=True), now),
    )


async def delete_entity_context(db: Database, caller: str, entity_type: str, entity_id: str) -> bool:
    changed = await db.run("DELETE FROM entity_contexts WHERE caller = ? AND entity_type = ? AND entity_id = ?",
                           (caller, entity_type, entity_id))
    return changed > 0
