"""Make a variant once, store it in R2 beside the original, serve it from there after.

Every call of the transformer is a billed Cloudflare Images transformation, so it is
counted (`image_transformations`, per UTC day) before it is made: a call that may have
been billed is never dropped from the count."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .. import errors
from ..ports import Database, ObjectStore
from ..services import Services
from ..storage import variant_rows
from . import spec as specs


@dataclass(frozen=True)
class Variant:
    body: bytes
    content_type: str
    sha256: str
    width: int
    height: int
    made: bool  # transformed by this call (False: served from R2)


def _check_input(row: dict[str, Any]) -> None:
    """The binding's input limits, checked on the row before any byte is read."""
    if int(row["byte_size"]) > specs.MAX_INPUT_BYTES:
        raise errors.InvalidRequest(
            f"image {row['id']} is {row['byte_size']} bytes: variants need at most {specs.MAX_INPUT_BYTES}"
            " (the Images binding's input limit); fetch the original without variant parameters",
            details={"field": "width"})
    if row.get("width") and row.get("height") and int(row["width"]) * int(row["height"]) > specs.MAX_INPUT_PIXELS:
        raise errors.InvalidRequest(
            f"image {row['id']} has more than {specs.MAX_INPUT_PIXELS} pixels: no variants of it can be made",
            details={"field": "width"})


async def get_variant(s: Services, row: dict[str, Any], rendition: specs.Rendition) -> Variant:
    """The stored variant, or make it now (once) and store it. `row` is the image's D1 row,
    already cleared for access by the caller (api/image_access.py)."""
    stored_row = await variant_rows.find(s.db, row["id"], rendition.name)
    if stored_row is not None:
        obj = await s.objects.get(stored_row["r2_key"])
        if obj is not None:
            return Variant(obj.body, stored_row["content_type"], stored_row["sha256"],
                           int(stored_row["width"]), int(stored_row["height"]), made=False)
    if s.images is None:
        raise errors.ImageWorkerError("image variants are not configured (no Images binding): request the original")
    _check_input(row)
    # The original, the binding's answer and the stored copy are held together: taken from
    # the isolate's budget before the original is fetched.
    async with s.memory.hold(None, s.settings.slot_wait_s) as hold:  # no generation: no request id
        await hold.take(int(row["byte_size"]) + rendition.width * rendition.height * 4, "the variant")
        return await _make(s, row, rendition)


async def _make(s: Services, row: dict[str, Any], rendition: specs.Rendition) -> Variant:
    original = await s.objects.get(row["r2_key"])
    if original is None:
        raise errors.NotFound(f"image {row['id']!r} is recorded but its bytes are missing from storage")
    if len(original.body) > specs.MAX_INPUT_BYTES:
        raise errors.InvalidRequest(f"image {row['id']} is over {specs.MAX_INPUT_BYTES} bytes: no variants of it")
    now = s.clock.now()
    await variant_rows.count_transformation(s.db, now.strftime("%Y-%m-%d"))
    body = await s.images.transform(original.body, rendition.transform(), rendition.output())
    del original
    digest = hashlib.sha256(body).hexdigest()
    key = rendition.key(row["r2_key"])
    await s.objects.put(key, body, rendition.content_type,
                        {"image_id": row["id"], "variant": rendition.name, "sha256": digest})
    try:
        await variant_rows.record(s.db, row["id"], rendition.name, key, rendition.content_type, len(body), digest,
                                  rendition.width, rendition.height, now.isoformat())
    except Exception:
        await s.objects.delete(key)  # no variant object without its row
        if not await variant_rows.image_exists(s.db, row["id"]):
            # The original was deleted meanwhile (foreign key): no variant outlives it.
            raise errors.NotFound(f"no image {row['id']!r}") from None
        raise
    return Variant(body, rendition.content_type, digest, rendition.width, rendition.height, made=True)


async def delete_variants(db: Database, objects: ObjectStore, image_ids: list[str]) -> list[str]:
    """Remove the variants of these images (objects, then rows); returns the keys removed."""
    keys: list[str] = []
    for image_id in image_ids:
        for key in await variant_rows.keys_of(db, image_id):
            await objects.delete(key)
            keys.append(key)
        await variant_rows.delete_rows(db, image_id)
    return keys


# Cloudflare Images prices (developers.cloudflare.com/images/pricing/, checked 2026-12-01).
FREE_TRANSFORMATIONS_PER_MONTH = 5_000
MICROS_PER_1000_TRANSFORMATIONS = 500_000  # $0.50


async def transformation_usage(db: Database, day_from: str, day_to: str) -> dict[str, Any]:
    """Transformations per day in [day_from, day_to], with the month-to-date count that the
    free allowance applies to (Cloudflare counts over a rolling 30 days: this is an estimate)."""
    rows, month_n = await variant_rows.transformations(db, day_from, day_to)
    billable = max(0, month_n - FREE_TRANSFORMATIONS_PER_MONTH)
    return {
        "total": sum(int(r["count"]) for r in rows),
        "by_day": {r["day"]: int(r["count"]) for r in rows},
        "month_to_date": month_n,
        "free_per_month": FREE_TRANSFORMATIONS_PER_MONTH,
        "month_estimated_cost_micros": billable * MICROS_PER_1000_TRANSFORMATIONS // 1000,
    }
