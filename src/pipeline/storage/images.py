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
    key = object_key(request_id, index, image.content_type, when)
    digest = hashlib.sha256(image.data).hexdigest()
    await objects.put(
        key,
        image.data,
        image.content_type,
        {"request_id": request_id, "sha256": digest, "provider": provider, "model": model},
    )
    return ImageRow(
        id=new_id("img", when),
        request_id=request_id,
        idx=index,
        r2_key=key,
        content_type=image.content_type,
        byte_size=len(image.data),
        sha256=digest,
        width=image.width,
        height=image.height,
        provider=provider,
        model=model,
    )


async def get_image_bytes(objects: ObjectStore, key: str) -> StoredObject | None:
    return await objects.get(key)


async def delete_images(objects: ObjectStore, rows: list[ImageRow]) -> None:
    """Best effort: remove objects whose D1 rows could not be written."""
    for row in rows:
        try:
            await objects.delete(row.r2_key)
        except Exception:  # noqa: BLE001 - cleanup must not mask the original failure
            pass
