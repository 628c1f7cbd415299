"""The D1 reads that ownership decisions need (auth/ownership.py): each object with
the caller it belongs to, and nothing else fetched before the decision is made."""

from __future__ import annotations

from typing import Any

from ..ports import Database


async def image(db: Database, image_id: str) -> dict[str, Any] | None:
    """An image's row with `caller`: an image is its generation's caller's."""
    return await db.first(
        "SELECT i.*, r.caller AS caller FROM images i JOIN generation_requests r ON r.id = i.request_id WHERE i.id = ?",
        (image_id,),
    )


async def generation(db: Database, request_id: str) -> dict[str, Any] | None:
    """A generation's id, caller and status (what deciding and deleting need)."""
    return await db.first("SELECT id, caller, status FROM generation_requests WHERE id = ?", (request_id,))


async def upload(db: Database, upload_id: str) -> dict[str, Any] | None:
    return await db.first("SELECT * FROM uploads WHERE id = ?", (upload_id,))


async def batch(db: Database, batch_id: str) -> dict[str, Any] | None:
    """A batch's or job's id, kind and caller."""
    return await db.first("SELECT id, kind, caller FROM batches WHERE id = ?", (batch_id,))

