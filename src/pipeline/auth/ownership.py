"""Who may see or use what: decided here, once per kind of object, and nowhere else.

Every loader by id, every listing and every input (edit sources, masks, references, the
OpenAI-compatible `image_url`) asks one of these functions. An object of another caller
raises exactly the `NotFound` an id that does not exist raises: same code, same message.

| object | its caller | every caller |
|---|---|---|
| generations, images, batches, jobs (reading) | any key of that caller | `review`, `admin`, the service binding |
| uploads (reading) | any key of that caller | `admin`, the service binding |
| inputs of a generation (images, uploads, masks, context) | only the generation's own caller | nobody else |
| entities: images, context, primaries (reading) | any key of that caller | `review`, `admin`, the service binding (`?caller=`) |
| entities: links and context (changing) | `generate` keys of that caller | `admin`, the service binding |
| entities: primary images (changing) | `review` keys of that caller | `review`, `admin`, the service binding |

An entity's caller is part of its identity: `character/hero` of alice and of bob are two
entities. A request names another caller's entity with `caller` (a query parameter, or the
body's field); a principal that may not reach that caller gets 403, as for every `caller`."""

from __future__ import annotations

from typing import Any, Literal

from .. import errors
from ..ports import Database
from ..storage import owners
from .keys import Principal

EntityChange = Literal["links", "context", "primary"]


def sees(principal: Principal, caller: str) -> bool:
    """May this principal read that caller's generations, images, batches and entities?"""
    return principal.sees(caller)


def sees_uploads(principal: Principal, caller: str) -> bool:
    """Uploads are their caller's alone: a reviewer reviews outputs, not what was uploaded."""
    return caller == principal.caller or principal.is_admin or principal.is_service


def listing_caller(principal: Principal, requested: str | None) -> str | None:
    """The caller a listing is filtered by; None means every caller's (only for those who
    see everyone). Naming a caller the principal may not read is a 403."""
    if requested is None:
        return None if principal.sees_everyone else principal.caller
    if not sees(principal, requested):
        raise errors.Forbidden(f"this key may only read caller {principal.caller!r}", details={"field": "caller"})
    return requested


def entity_caller(principal: Principal, requested: str | None, change: EntityChange | None = None) -> str:
    """Whose entity a request addresses: the principal's own caller unless it names another
    it may reach (reading: those who see everyone; primaries: reviewers; links and context:
    admins and the service binding)."""
    if requested is None or requested == principal.caller:
        return principal.caller
    if change is None:
        allowed = principal.sees_everyone
    elif change == "primary":
        allowed = principal.has("review") or principal.is_service
    else:
        allowed = principal.is_admin or principal.is_service
    if not allowed:
        raise errors.Forbidden(f"this key acts as caller {principal.caller!r} and may not reach {requested!r}'s entities",
                               details={"field": "caller"})
    return requested


def _visible(row: dict[str, Any] | None, allowed: bool, message: str, field: str | None = None) -> dict[str, Any]:
    if row is None or not allowed:
        raise errors.NotFound(message, details={"field": field} if field else None)
    return row


async def generation(db: Database, principal: Principal, request_id: str) -> dict[str, Any]:
    """A generation's id, caller and status, if the principal sees it."""
    row = await owners.generation(db, request_id)
    return _visible(row, row is not None and sees(principal, row["caller"]), f"no generation {request_id!r}")


async def image(db: Database, principal: Principal, image_id: str) -> dict[str, Any]:
    """An image's row (with `caller`), if the principal sees it."""
    row = await owners.image(db, image_id)
    return _visible(row, row is not None and sees(principal, row["caller"]), f"no image {image_id!r}")


async def upload(db: Database, principal: Principal, upload_id: str) -> dict[str, Any]:
    row = await owners.upload(db, upload_id)
    return _visible(row, row is not None and sees_uploads(principal, row["caller"]), f"no upload {upload_id!r}")


async def batch(db: Database, principal: Principal, batch_id: str, kind: str = "batch") -> dict[str, Any]:
    """A batch (or, with kind 'job', a job), if the principal sees it; checked before any
    of its items or results are read."""
    row = await owners.batch(db, batch_id)
    allowed = row is not None and sees(principal, row["caller"]) and (kind != "job" or row["kind"] == "job")
    return _visible(row, allowed, f"no {kind} {batch_id!r}")


async def input_image(db: Database, caller: str, image_id: str, field: str) -> dict[str, Any]:
    """An image a generation for `caller` may use as an input: only that caller's own,
    whoever asks (an admin acting for alice cannot feed bob's image into alice's result)."""
    row = await owners.image(db, image_id)
    return _visible(row, row is not None and row["caller"] == caller, f"{field}: no image {image_id!r}", field)


async def input_upload(db: Database, caller: str, upload_id: str, field: str) -> dict[str, Any]:
    row = await owners.upload(db, upload_id)
    return _visible(row, row is not None and row["caller"] == caller, f"{field}: no upload {upload_id!r}", field)
