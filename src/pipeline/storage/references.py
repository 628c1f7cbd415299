"""D1 rows for entity references: which entity's primary image a request was sent as a
reference (generation/references.py decides; this module only reads and writes)."""

from __future__ import annotations

from typing import Any, Sequence

from ..ports import Database, Params

_FIELDS = ("entity_type", "entity_id", "role", "usage", "image_id")


def insert_statements(request_id: str, caller: str, used: Sequence[dict[str, Any]], now: str) -> list[tuple[str, Params]]:
    """The rows of a request's references, written in the batch that creates the request.
    Guarded by the request row, so an insert the idempotency key turned away writes none."""
    return [(
        "INSERT INTO request_references (request_id, position, caller, entity_type, entity_id, role, usage, image_id,"
        " created_at) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM generation_requests WHERE id = ?"
        " AND caller = ?)",
        (request_id, position, caller, *(ref.get(k) for k in _FIELDS), now, request_id, caller),
    ) for position, ref in enumerate(used)]


async def for_requests(db: Database, request_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Each request's references, in the order they were sent (one query, at most 100 ids)."""
    if not request_ids:
        return {}
    marks = ", ".join("?" * len(request_ids))
    rows = await db.all(
        f"SELECT request_id, {', '.join(_FIELDS)} FROM request_references WHERE request_id IN ({marks})"
        " ORDER BY request_id, position", list(request_ids))
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("request_id"), []).append(row)
    return out


async def uses_of_entity(db: Database, caller: str, entity_type: str, entity_id: str, limit: int) -> list[dict[str, Any]]:
    """The requests that sent the caller's entity as a reference (a request uses only its own
    caller's entities), newest first, with the images each made (`made`: ids in order, comma-separated)."""
    return await db.all(
        "SELECT r.request_id, r.role, r.usage, r.image_id AS reference_image_id, r.created_at, g.status,"
        " (SELECT group_concat(id) FROM (SELECT id FROM images WHERE request_id = r.request_id ORDER BY idx)) AS made"
        " FROM request_references r JOIN generation_requests g ON g.id = r.request_id"
        " WHERE r.caller = ? AND r.entity_type = ? AND r.entity_id = ?"
        " ORDER BY r.created_at DESC, r.request_id DESC LIMIT ?", (caller, entity_type, entity_id, limit))
