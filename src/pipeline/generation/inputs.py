"""The source images of an edit: stored images, uploads and inline bytes, loaded
within the memory limits (limits.py) before anything is paid.

Sizes of stored images and uploads are known from D1, so a request over
`MAX_INPUT_BYTES` is refused before any bytes are fetched."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .. import enrich, errors, inspect_image, limits, ownership
from ..memory.byte_budget import Hold
from ..models import GenerationRequest, ImageInput
from ..providers.base import InputImage
from ..services import Services
from ..storage import images


async def _row(s: Services, item: ImageInput, field: str, caller: str) -> dict[str, Any] | None:
    """The stored image or upload behind an input: the generation's caller's own only."""
    if item.image_id is not None:
        return await ownership.input_image(s.db, caller, item.image_id, field)
    if item.upload_id is not None:
        return await ownership.input_upload(s.db, caller, item.upload_id, field)
    return None


async def check_inputs(s: Services, req: GenerationRequest, caller: str) -> None:
    """At submission (jobs, batches): every stored input and the stored context it names
    exist and are `caller`'s, before anything is queued; the consumer loads them again,
    through the same checks."""
    for item, field in _items(req):
        await _row(s, item, field, caller)
    if req.context_ref is not None:
        await enrich.referenced_context(s, req.context_ref, caller)


def _items(req: GenerationRequest) -> list[tuple[ImageInput, str]]:
    items = [(item, f"images[{n}]") for n, item in enumerate(req.images)]
    if req.mask is not None:
        items.append((req.mask, "mask"))
    return items


def _inline(item: ImageInput, field: str) -> InputImage:
    try:
        data = base64.b64decode(item.data_base64 or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.InvalidRequest(f"{field}.data_base64 is not valid base64", details={"field": field}) from exc
    if not data:
        raise errors.InvalidRequest(f"{field}.data_base64 is empty", details={"field": field})
    try:  # the bytes decide, not the declared content_type
        content_type, _width, _height = inspect_image.inspect(data)
    except inspect_image.BadImage as exc:
        raise errors.InvalidRequest(f"{field}: {exc}", details={"field": field}) from None
    return InputImage(data, content_type)


async def load_inputs(s: Services, req: GenerationRequest, caller: str,
                      hold: Hold | None = None) -> tuple[tuple[InputImage, ...], InputImage | None]:
    """The edit's images and mask as bytes, in order; typed errors for what is missing or too large.
    Their bytes are taken into `hold` (the isolate's budget) before any is fetched."""
    items = _items(req)
    rows = [await _row(s, item, field, caller) for item, field in items]
    total = sum(int(r["byte_size"]) for r in rows if r) + sum(
        len(item.data_base64 or "") * 3 // 4 for item, _ in items if item.data_base64 is not None)
    if total > limits.MAX_INPUT_BYTES:
        raise errors.InvalidRequest(
            f"the input images total {total} bytes; one request may use at most {limits.MAX_INPUT_BYTES}",
            details={"field": "images", "max_bytes": limits.MAX_INPUT_BYTES})
    if hold is not None:
        await hold.take(total, "its input images")
    loaded: list[InputImage] = []
    for (item, field), row in zip(items, rows, strict=True):
        if row is None:
            loaded.append(_inline(item, field))
            continue
        stored = await images.get_image_bytes(s.objects, row["r2_key"])
        if stored is None:
            raise errors.NotFound(f"{field}: {row['id']!r} is recorded but its bytes are missing", details={"field": field})
        loaded.append(InputImage(stored.body, row["content_type"]))
    mask = loaded.pop() if req.mask is not None else None
    return tuple(loaded), mask
