"""An entity's uses as a reference: the generations that were sent its approved primary
image (generation/references.py), newest first, with the images each made. The entity is
a caller's (auth/ownership.py), like its images, context and primaries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from .. import ownership
from ..auth.keys import Principal
from ..models import EntityType
from ..services import Services
from ..storage import references as reference_rows
from ..delivery.results import image_url
from .deps import get_services, require_scope
from .params import CallerQuery, EntityIdPath

router = APIRouter(prefix="/v1", tags=["links"])


@router.get("/entities/{entity_type}/{entity_id}/references",
            summary="The generations that used an entity's primary image as a reference, newest first")
async def entity_references(
    entity_type: EntityType, entity_id: EntityIdPath, caller: CallerQuery = None, limit: int = Query(50, ge=1, le=200),
    principal: Principal = Depends(require_scope("read")), s: Services = Depends(get_services),
) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller)
    rows = await reference_rows.uses_of_entity(s.db, owner, entity_type, entity_id, limit)
    base = s.settings.public_base_url
    return {
        "entity_type": entity_type, "entity_id": entity_id, "caller": owner,
        "uses": [{
            "request_id": r["request_id"], "status": r["status"], "role": r["role"], "usage": r["usage"],
            "reference_image_id": r["reference_image_id"], "created_at": r["created_at"],
            "images": [{"id": i, "url": image_url(base, i)} for i in (r["made"] or "").split(",") if i],
        } for r in rows],
    }
