"""D1 rows of image variants (`image_variants`) and the count of billed transformations
(`image_transformations`, per UTC day): the SQL behind delivery/variants.py."""

from __future__ import annotations

from typing import Any

from ..ports import Database


async def count_transformation(db: Database, day: str) -> None:
    await db.run("INSERT INTO image_transformations (day, count) VALUES (?, 1)"
                 " ON CONFLICT (day) DO UPDATE SET count = count + 1", (day,))


async def find(db: Database, image_id: str, variant: str) -> dict[str, Any] | None:
    return await db.first("SELECT * FROM image_variants WHERE image_id = ? AND variant = ?", (image_id, variant))


async def record(db: Database, image_id: str, variant: str, key: str, content_type: str, byte_size: int, sha256: str,
                 width: int, height: int, created_at: str) -> None:
    await db.run(
        "INSERT INTO image_variants (image_id, variant, r2_key, content_type, byte_size, sha256, width, height, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (image_id, variant) DO UPDATE SET"
        " r2_key = excluded.r2_key, content_type = excluded.content_type, byte_size = excluded.byte_size,"
        " sha256 = excluded.sha256, width = excluded.width, height = excluded.height",
        (image_id, variant, key, content_type, byte_size, sha256, width, height, created_at))


async def image_exists(db: Database, image_id: str) -> bool:
    return await db.first("SELECT 1 AS x FROM images WHERE id = ?", (image_id,)) is not None


async def keys_of(db: Database, image_id: str) -> list[str]:
    return [r["r2_key"] for r in await db.all("SELECT r2_key FROM image_variants WHERE image_id = ?", (image_id,))]


async def delete_rows(db: Database, image_id: str) -> None:
    await db.run("DELETE FROM image_variants WHERE image_id = ?", (image_id,))


async def transformations(db: Database, day_from: str, day_to: str) -> tuple[list[dict[str, Any]], int]:
    """Per-day counts in [day_from, day_to], and the count since the first of day_to's month."""
    rows = await db.all("SELECT day, count FROM image_transformations WHERE day BETWEEN ? AND ? ORDER BY day",
                        (day_from, day_to))
    month = await db.first("SELECT COALESCE(SUM(count), 0) AS n FROM image_transformations WHERE day BETWEEN ? AND ?",
                           (day_to[:8] + "01", day_to))
    return rows, int((month or {}).get("n") or 0)
