"""Approval of images (pending → approved / rejected, with reviewer, reason and time)
and entities' primary images (approved images only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from .. import errors
from ..auth import ownership
from ..auth.keys import Principal
from ..clock import iso
from ..models import LABEL_PATTERN, EntityType
from ..services import Services
from ..storage import approvals
from ..delivery.variants import delete_variants
from ..storage.results import image_url
from .deps import get_services, require_scope
from .params import CallerQuery, EntityIdPath, IdPath, RolePath

router = APIRouter(prefix="/v1", dependencies=[Depends(require_scope("read"))], tags=["approval"])
# Approvals decide what the app shows: review keys (the console's reviewers) and admin keys only.
reviewer = Depends(require_scope("review"))

ApprovalStatus = Literal["pending", "approved", "rejected"]


class Review(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewer: str | None = Field(default=None, max_length=128)
    reason: str | None = Field(default=None, max_length=2000)


class BulkReview(Review):
    image_ids: list[Annotated[str, Field(min_length=1, max_length=64, pattern=LABEL_PATTERN)]] = Field(
        min_length=1, max_length=100)


class PrimaryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: str = Field(min_length=1, max_length=64, pattern=LABEL_PATTERN)
    set_by: str | None = Field(default=None, max_length=128)


def _view(s: Services, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "url": image_url(s.settings.public_base_url, row["id"]), "request_id": row["request_id"],
        "caller": row["caller"],
        "status": row["approval_status"], "reviewer": row["reviewed_by"], "reason": row["review_reason"],
        "reviewed_at": row["reviewed_at"], "created_at": row["created_at"],
    }


def _by(principal: Principal, body: Review) -> Review:
    """The reviewer on record: as sent, else the key that decided (its name, else its caller)."""
    if body.reviewer:
        return body
    return body.model_copy(update={"reviewer": principal.key_name or principal.caller})


async def review(s: Services, image_ids: list[str], decision: str, body: Review) -> list[dict[str, Any]]:
    """All or nothing: unknown ids or a forbidden transition change no image."""
    ids = list(dict.fromkeys(image_ids))
    rows = await approvals.images_by_id(s.db, ids)
    missing = [i for i in ids if i not in rows]
    if missing:
        raise errors.NotFound(f"no image {missing[0]!r}", details={"missing": missing})
    status = approvals.DECISIONS[decision]
    if status == "rejected" and not body.reason:
        raise errors.InvalidRequest("rejecting needs a reason", details={"field": "reason"})
    changing = [i for i in ids if rows[i]["approval_status"] != status]
    await approvals.set_status(s.db, changing, status, reviewer=body.reviewer, reason=body.reason, now=iso(s.clock.now()))
    if status == "rejected":
        # A rejected image is never served; its variants go now (a revision back makes them again).
        await delete_variants(s.db, s.objects, changing)
    rows = await approvals.images_by_id(s.db, ids)
    return [_view(s, rows[i]) for i in ids]


# Two fixed paths, not /images/{image_id}/{decision}: that would also catch (and answer 422 for)
# every other POST under an image, e.g. /signed-url, which must answer 405.
@router.post("/images/{image_id}/approve", summary="Approve one image")
async def approve_one(image_id: IdPath, body: Review | None = None, principal: Principal = reviewer,
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    return (await review(s, [image_id], "approve", _by(principal, body or Review())))[0]


@router.post("/images/{image_id}/reject", summary="Reject one image (a reason is required)")
async def reject_one(image_id: IdPath, body: Review | None = None, principal: Principal = reviewer,
                     s: Services = Depends(get_services)) -> dict[str, Any]:
    return (await review(s, [image_id], "reject", _by(principal, body or Review())))[0]


# Fixed paths, not /images/{decision}: that would shadow the OpenAI-compatible /v1/images/generations.
@router.post("/images/approve", summary="Approve many images at once")
async def approve_many(body: BulkReview, principal: Principal = reviewer, s: Services = Depends(get_services)) -> dict[str, Any]:
    return {"images": await review(s, body.image_ids, "approve", _by(principal, body))}


@router.post("/images/reject", summary="Reject many images at once (a reason is required)")
async def reject_many(body: BulkReview, principal: Principal = reviewer, s: Services = Depends(get_services)) -> dict[str, Any]:
    return {"images": await review(s, body.image_ids, "reject", _by(principal, body))}


@router.get("/images", summary="Images by approval status, newest first (the review queue; a read key: its caller's)")
async def list_images(status: ApprovalStatus = Query("pending"),
                      before: str | None = Query(None, max_length=64, pattern=LABEL_PATTERN),
                      caller: CallerQuery = None, limit: int = Query(50, ge=1, le=200),
                      principal: Principal = Depends(require_scope("read")),
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    rows = await approvals.list_by_status(s.db, status, before, limit, ownership.listing_caller(principal, caller))
    items = [_view(s, r) for r in rows]
    return {"status": status, "items": items, "next_before": items[-1]["id"] if len(items) == limit else None}


@router.put("/entities/{entity_type}/{entity_id}/primary/{role}", summary="Set an entity's primary image for a role")
async def set_primary(entity_type: EntityType, entity_id: EntityIdPath, role: RolePath, body: PrimaryBody,
                      caller: CallerQuery = None, principal: Principal = reviewer,
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller, "primary")
    row = await ownership.input_image(s.db, owner, body.image_id, "image_id")  # the entity's caller's image only
    ok = await approvals.set_primary(s.db, owner, entity_type, entity_id, role, body.image_id, body.set_by,
                                     iso(s.clock.now()))
    if not ok:
        raise errors.Conflict(f"image {body.image_id!r} is {row['approval_status']}: only approved images can be primary",
                              details={"approval_status": row["approval_status"]})
    return {"entity_type": entity_type, "entity_id": entity_id, "caller": owner, "role": role, "image_id": body.image_id}


@router.get("/entities/{entity_type}/{entity_id}/primary", summary="An entity's primary image per role")
async def get_primary(entity_type: EntityType, entity_id: EntityIdPath, caller: CallerQuery = None,
                      principal: Principal = Depends(require_scope("read")),
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller)
    rows = await approvals.primaries(s.db, owner, entity_type, entity_id)
    return {"entity_type": entity_type, "entity_id": entity_id, "caller": owner,
            "primary": {r["role"]: {"image_id": r["image_id"], "url": image_url(s.settings.public_base_url, r["image_id"]),
                                    "set_by": r["set_by"], "set_at": r["set_at"]} for r in rows}}


@router.delete("/entities/{entity_type}/{entity_id}/primary/{role}", summary="Clear an entity's primary image for a role")
async def clear_primary(entity_type: EntityType, entity_id: EntityIdPath, role: RolePath, caller: CallerQuery = None,
                        principal: Principal = reviewer, s: Services = Depends(get_services)) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller, "primary")
    if not await approvals.clear_primary(s.db, owner, entity_type, entity_id, role):
        raise errors.NotFound("no primary image for that role")
    return {"removed": True}
