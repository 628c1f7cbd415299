"""Uploaded input images: bytes in R2 (`uploads/YYYY/MM/DD/<id>.<ext>`), a row in D1."""

from __future__ import annotations

import hashlib
from typing import Any

from ..clock import iso
from ..ids import new_id
from ..ports import Clock, Database, ObjectStore
from ..inspect_image import EXTENSIONS


async def put_upload(db: Database, objects: ObjectStore, clock: Clock, *, caller: str, data: bytes,
                     content_type: str, width: int | None = None, height: int | None = None) -> dict[str, Any]:
    """Store the bytes, then record them; the row is what the caller gets back."""
    now = clock.now()
    upload_id = new_id("upl", now)
    key = f"uploads/{now:%Y/%m/%d}/{upload_id}.{EXTENSIONS.get(content_type, 'bin')}"
    digest = hashlib.sha256(data).hexdigest()
    await objects.put(key, data, content_type, {"upload_id": upload_id, "sha256": digest, "caller": caller})
    row = {"id": upload_id, "caller": caller, "r2_key": key, "content_type": content_type, "byte_size": len(data),
           "sha256": digest, "width": width, "height": height, "created_at": iso(now)}
    try:
        await db.run(
            "INSERT INTO uploads (id, caller, r2_key, content_type, byte_size, sha256, width, height, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", tuple(row.values()))
    except BaseException:
        await objects.delete(key)  # no object without its row
        raise
    return row

