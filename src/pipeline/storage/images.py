"""Image bytes to R2 and back, over the ObjectStore port.

Keys are `images/YYYY/MM/DD/<request id>/<index>.<ext>`: grouped by UTC day
for lifecycle rules, unique per request. The content hash is computed once,
while the bytes are in hand, and recorded in D1."""

from __future__ import annotations

import hashlib
from datetime import datetime

from ..ids import new_id
from ..ports import ObjectStore, StoredObject
from ..inspect_image import EXTENSIONS
from ..providers.base import GeneratedImage
from .store import ImageRow

def object_key(request_id: str, index: int, content_type: str, when: datetime) -> str:
    return f"images/{when:%Y/%m/%d}/{request_id}/{index}.{EXTENSIONS.get(content_type, 'bin')}"


async def put_image(
    objects: ObjectStore, image: GeneratedImage, *, request_id: str, index: int, provider: str, model: str, when: datetime
) -> ImageRow:
    """Store one image; return the row that describes it (not yet written to D1)."""
    row = image_row(image, request_id=request_id, index=index, provider=provider, model=model, when=when)
    await put_row(objects, image, row)
    return row


def image_row(image: GeneratedImage, *, request_id: str, index: int, provider: str, model: str, when: datetime) -> ImageRow:
    """The D1 row for one image (its key, hash and size), before anything is written."""
    return ImageRow(
        id=new_id("img", when),
        request_id=request_id,
        idx=index,
        r2_key=object_key(request_id, index, image.content_type, when),
        content_type=image.content_type,
        byte_size=len(image.data),
        sha256=hashlib.sha256(image.data).hexdigest(),
        width=image.width,
        height=image.height,
        provider=provider,
        model=model,
    )


async def put_row(objects: ObjectStore, image: GeneratedImage, row: ImageRow) -> None:
    """Write the image's bytes under its row's key; the same key each time, so a retry overwrites."""
    await objects.put(row.r2_key, image.data, image.content_type,
                      {"request_id": row.request_id, "sha256": row.sha256, "provider": row.provider, "model": row.model})


async def get_image_bytes(objects: ObjectStore, key: str) -> StoredObject | None:
    return await objects.get(key)


async def delete_images(objects: ObjectStore, rows: list[ImageRow]) -> None:
    """Best effort: remove objects whose D1 rows could not be written."""
    for row in rows:
        try:
            await objects.delete(row.r2_key)
        except Exception:  # noqa: BLE001 - cleanup must not mask the original failure
            pass
