"""Links between stored images and the app's entities (characters, locations, scenes).
An entity is its caller's; a link joins one of the caller's images to one of its entities
(auth/ownership.py decides whose both are)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from .. import errors
from ..auth import ownership
from ..auth.keys import Principal
from .deps import get_services, require_scope
from .params import CallerQuery, EntityIdPath
from ..models import LABEL_PATTERN, EntityRef, EntityType
from ..storage.results import image_url
from ..services import Services
from ..storage.store import Store

router = APIRouter(prefix="/v1", tags=["links"])


class LinkBody(EntityRef):
    image_id: str = Field(min_length=1, max_length=64, pattern=LABEL_PATTERN)
    caller: str | None = Field(default=None, min_length=1, max_length=128, pattern=LABEL_PATTERN,
                               description="whose entity and image (default: the key's caller; others: admin keys)")


async def _entity(s: Services, principal: Principal, body: LinkBody) -> str:
    """The caller whose entity this is, once the image is known to be that caller's."""
    caller = ownership.entity_caller(principal, body.caller, "links")
    await ownership.input_image(s.db, caller, body.image_id, "image_id")
    return caller


@router.post("/links", status_code=201, summary="Link one of the caller's images to its entity (idempotent)")
async def create_link(body: LinkBody, principal: Principal = Depends(require_scope("generate")),
                      s: Services = Depends(get_services)) -> JSONResponse:
    caller = await _entity(s, principal, body)
    created = await Store(s.db, s.clock).link(caller, body.image_id, body.entity_type, body.entity_id, body.role)
    return JSONResponse({"created": created, **body.model_dump(), "caller": caller}, status_code=201 if created else 200)


@router.delete("/links", summary="Remove a link")
async def delete_link(body: LinkBody, principal: Principal = Depends(require_scope("generate")),
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    caller = ownership.entity_caller(principal, body.caller, "links")
    removed = await Store(s.db, s.clock).unlink(caller, body.image_id, body.entity_type, body.entity_id, body.role)
    if not removed:
        raise errors.NotFound("no such link")
    return {"removed": True, **body.model_dump(), "caller": caller}


@router.get("/entities/{entity_type}/{entity_id}/images", summary="An entity's images, newest first")
async def entity_images(
    entity_type: EntityType, entity_id: EntityIdPath, caller: CallerQuery = None,
    limit: int = Query(100, ge=1, le=500), principal: Principal = Depends(require_scope("read")),
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller)
    rows = await Store(s.db, s.clock).entity_images(owner, entity_type, entity_id, limit)
    return {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "caller": owner,
        "images": [
            {"id": r["id"], "url": image_url(s.settings.public_base_url, r["id"]), "role": r["role"],
             "request_id": r["request_id"], "content_type": r["content_type"], "width": r["width"],
             "height": r["height"], "linked_at": r["linked_at"]}
            for r in rows
        ],
    }
