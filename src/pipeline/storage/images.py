"""Image bytes to R2 and back, over the ObjectStore port.

Keys are `images/YYYY/MM/DD/<request id>/<index>.<ext>`: grouped by UTC day
for lifecycle rules, unique per request. The content hash is computed once,
while the bytes are in hand, and recorded in D1.

Each object also carries its D1 image row in its custom metadata (`row_metadata`):
if the D1 batch that records it never lands, the cron rebuilds the row from the
object (`row_from_object`, used by recovery.py) instead of deleting a paid image."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Iterable, Iterator

from ..ids import new_id
from ..ports import ObjectStore, StoredObject
from ..inspect_image import EXTENSIONS
from ..providers.base import GeneratedImage
from .store import ImageRow

# R2 allows 8,192 bytes of metadata per object (developers.cloudflare.com/r2/platform/limits);
# ours stays under a quarter of that, so the HTTP metadata always fits beside it.
METADATA_LIMIT = 2048
METADATA_VERSION = "1"
_IMAGE_ID = re.compile(r"^img_[0-9A-Za-z_-]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def object_key(request_id: str, index: int, content_type: str, when: datetime) -> str:
    return f"images/{when:%Y/%m/%d}/{request_id}/{index}.{EXTENSIONS.get(content_type, 'bin')}"


def possible_keys(request_id: str, n: int, days: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Every key a request's images may have (index, key), for UTC days `YYYY-MM-DD`."""
    for day in sorted(set(days)):
        folder = f"images/{day.replace('-', '/')}/{request_id}"
        for index in range(n):
            for ext in EXTENSIONS.values():
                yield index, f"{folder}/{index}.{ext}"


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
    """Write the image's bytes under its row's key, with the row in its metadata; the same
    key each time, so a retry overwrites."""
    await objects.put(row.r2_key, image.data, image.content_type, row_metadata(row))


def row_metadata(row: ImageRow) -> dict[str, str]:
    """The image row as R2 custom metadata (string to string; `r2_key` is the object's own key).
    A row too large for the limit (an absurd model name) keeps only the minimum: its object
    cannot be recovered, and is removed as before."""
    meta = {"v": METADATA_VERSION, "image_id": row.id, "request_id": row.request_id, "idx": str(row.idx),
            "content_type": row.content_type, "byte_size": str(row.byte_size), "sha256": row.sha256,
            "width": "" if row.width is None else str(row.width),
            "height": "" if row.height is None else str(row.height), "provider": row.provider, "model": row.model}
    if metadata_bytes(meta) > METADATA_LIMIT:
        return {"request_id": row.request_id, "sha256": row.sha256}
    return meta


def metadata_bytes(meta: dict[str, str]) -> int:
    """What custom metadata counts against R2's limit: its keys and values, UTF-8."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in meta.items())


def row_from_object(key: str, request_id: str, index: int, obj: StoredObject) -> ImageRow | None:
    """The image row an object's metadata describes, or None when the metadata is
    incomplete or does not match the object (its key, request, size, content hash)."""
    m = obj.metadata
    try:
        if m.get("v") != METADATA_VERSION or m.get("request_id") != request_id or int(m["idx"]) != index:
            return None
        size, width, height = int(m["byte_size"]), _dimension(m["width"]), _dimension(m["height"])
        image_id, content_type, sha = m["image_id"], m["content_type"], m["sha256"]
        provider, model = m["provider"], m["model"]
    except (KeyError, ValueError):
        return None
    if not (_IMAGE_ID.match(image_id) and _SHA256.match(sha) and provider and model):
        return None
    ext = EXTENSIONS.get(content_type)
    if ext is None or not key.endswith(f"/{index}.{ext}") or obj.content_type != content_type:
        return None
    if size != len(obj.body) or hashlib.sha256(obj.body).hexdigest() != sha:
        return None
    return ImageRow(id=image_id, request_id=request_id, idx=index, r2_key=key, content_type=content_type,
                    byte_size=size, sha256=sha, width=width, height=height, provider=provider, model=model)


def _dimension(value: str) -> int | None:
    if value == "":
        return None
    side = int(value)
    if side <= 0:
        raise ValueError(value)
    return side


async def get_image_bytes(objects: ObjectStore, key: str) -> StoredObject | None:
    return await objects.get(key)


async def delete_images(objects: ObjectStore, rows: list[ImageRow]) -> None:
    """Best effort: remove objects whose D1 rows could not be written."""
    for row in rows:
        try:
            await objects.delete(row.r2_key)
        except Exception:  # noqa: BLE001 - cleanup must not mask the original failure
            pass
