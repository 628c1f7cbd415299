"""Listing and deleting generations in D1.

Ids are ULIDs (creation time, then randomness), so "newest first" is `ORDER BY
id DESC`, a page boundary is `id < ?`, and a date range is an id range: every
filter below is served by an index whose last column is the id (see
migrations/0004), which a test checks with EXPLAIN QUERY PLAN."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from ..ids import _b32
from ..ports import Database, ObjectStore


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    provider: str | None = None
    caller: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    approval: str | None = None  # only where the images table has the approval_status column
    day_from: date | None = None  # inclusive, UTC
    day_to: date | None = None  # inclusive, UTC


def _id_at(day: date, prefix: str = "gen") -> str:
    """The smallest id created at the start of a UTC day."""
    ms = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)
    return f"{prefix}_{_b32(ms, 10)}{'0' * 16}"


def list_query(f: Filters, before: str | None, limit: int) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("caller", f.caller), ("status", f.status), ("provider", f.provider)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if f.entity_type is not None and f.entity_id is not None:
        # the generation's own caller's entity (an entity is its caller's)
        where.append("id IN (SELECT i.request_id FROM entity_links l JOIN images i ON i.id = l.image_id"
                     " WHERE l.entity_type = ? AND l.entity_id = ? AND l.caller = generation_requests.caller)")
        params += [f.entity_type, f.entity_id]
    if f.approval is not None:
        where.append("id IN (SELECT request_id FROM images WHERE approval_status = ?)")
        params.append(f.approval)
    if f.day_from is not None:
        where.append("id >= ?")
        params.append(_id_at(f.day_from))
    if f.day_to is not None:
        where.append("id < ?")
        params.append(_id_at(date.fromordinal(f.day_to.toordinal() + 1)))
    if before is not None:
        where.append("id < ?")
        params.append(before)
    sql = "SELECT * FROM generation_requests" + (" WHERE " + " AND ".join(where) if where else "")
    return sql + " ORDER BY id DESC LIMIT ?", [*params, limit]


async def has_column(db: Database, table: str, column: str) -> bool:
    rows = await db.all("SELECT name FROM pragma_table_info(?)", (table,))
    return any(r["name"] == column for r in rows)


async def delete_generation(db: Database, objects: ObjectStore, request_id: str) -> dict[str, Any]:
    """Remove a finished generation: its objects from R2 first (a crash in between leaves
    rows pointing at nothing, which reads as 404, never orphaned bytes nobody can find),
    then its rows from D1 in one batch. Returns what was removed."""
    images = await db.all("SELECT id, r2_key FROM images WHERE request_id = ? ORDER BY idx", (request_id,))
    ids = [i["id"] for i in images]
    marks = ", ".join("?" * len(ids))
    variants = await db.all(f"SELECT r2_key FROM image_variants WHERE image_id IN ({marks})", ids) if ids else []
    for obj in [*variants, *images]:
        await objects.delete(obj["r2_key"])
    links = await db.first(f"SELECT COUNT(*) AS n FROM entity_links WHERE image_id IN ({marks})", ids) if ids else None
    usage = await db.first("SELECT COUNT(*) AS n FROM usage_events WHERE request_id = ?", (request_id,))
    statements: list[tuple[str, tuple[Any, ...]]] = []
    if ids:
        statements.append((f"DELETE FROM entity_links WHERE image_id IN ({marks})", tuple(ids)))
        statements.append((f"DELETE FROM image_variants WHERE image_id IN ({marks})", tuple(ids)))
    statements += [
        ("DELETE FROM images WHERE request_id = ?", (request_id,)),
        ("DELETE FROM usage_events WHERE request_id = ?", (request_id,)),
        ("DELETE FROM generation_requests WHERE id = ?", (request_id,)),
    ]
    await db.batch(statements)
    return {
        "id": request_id,
        "images": ids,
        "objects": [i["r2_key"] for i in images],
        "variants": [v["r2_key"] for v in variants],
        "entity_links": int(links["n"]) if links else 0,
        "usage_events": int(usage["n"]) if usage else 0,
    }
