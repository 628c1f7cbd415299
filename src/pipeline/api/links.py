"""Links between stored images and the app's entities (characters, locations, scenes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from .. import errors
from .deps import get_services, require_token
from ..models import EntityRef, EntityType
from ..delivery.results import image_url
from ..services import Services
from ..storage.store import Store

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["links"])


class LinkBody(EntityRef):
    image_id: str = Field(min_length=1, max_length=64)


async def _known_image(store: Store, image_id: str) -> None:
    if await store.get_image(image_id) is None:
        raise errors.NotFound(f"no image {image_id!r}")


@router.post("/links", status_code=201, summary="Link an image to an entity (idempotent)")
async def create_link(body: LinkBody, s: Services = Depends(get_services)) -> JSONResponse:
    store = Store(s.db, s.clock)
    await _known_image(store, body.image_id)
    created = await store.link(body.image_id, body.entity_type, body.entity_id, body.role)
    return JSONResponse({"created": created, **body.model_dump()}, status_code=201 if created else 200)


@router.delete("/links", summary="Remove a link")
async def delete_link(body: LinkBody, s: Services = Depends(get_services)) -> dict[str, Any]:
    removed = await Store(s.db, s.clock).unlink(body.image_id, body.entity_type, body.entity_id, body.role)
    if not removed:
        raise errors.NotFound("no such link")
    return {"removed": True, **body.model_dump()}


@router.get("/entities/{entity_type}/{entity_id}/images", summary="An entity's images, newest first")
async def entity_images(
    entity_type: EntityType, entity_id: str, limit: int = Query(100, ge=1, le=500), s: Services = Depends(get_services)
) -> dict[str, Any]:
    rows = await Store(s.db, s.clock).entity_images(entity_type, entity_id, limit)
    return {
        "entity_type": entity_type,
        "entity_id": entity_id,
        "images": [
            {"id": r["id"], "url": image_url(s.settings.public_base_url, r["id"]), "role": r["role"],
             "request_id": r["request_id"], "content_type": r["content_type"], "width": r["width"],
             "height": r["height"], "linked_at": r["linked_at"]}
            for r in rows
        ],
    }
