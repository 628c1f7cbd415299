"""Narrative enrichment over HTTP: preview the prompt, and entities' stored context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from .. import enrich, errors
from .. import ownership
from ..auth.keys import Principal
from ..clock import iso
from ..models import ContextKind, EntityType, GenerationRequest, NarrativeContext
from ..services import Services
from ..storage import contexts
from .deps import get_services, require_scope
from .params import CallerQuery, EntityIdPath

router = APIRouter(prefix="/v1", tags=["enrichment"])


class StoredContext(NarrativeContext):
    """An entity's context; `kind` defaults from the entity type (character → portrait)."""

    kind: ContextKind | None = None  # type: ignore[assignment]  # None until the validator fills it from the entity type


@router.post("/prompts/preview", summary="The prompt each provider would be sent; generates nothing")
async def preview(body: GenerationRequest, principal: Principal = Depends(require_scope("generate")),
                  s: Services = Depends(get_services)) -> dict[str, Any]:
    return enrich.preview(s, await enrich.enrichment_for(s, body, principal.acting_caller(body.caller)))


@router.put("/entities/{entity_type}/{entity_id}/context", summary="Store an entity's narrative context")
async def put_context(entity_type: EntityType, entity_id: EntityIdPath, body: StoredContext, caller: CallerQuery = None,
                      principal: Principal = Depends(require_scope("generate")),
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller, "context")
    context = body.model_dump(exclude_none=True)
    context["kind"] = body.kind or enrich.ENTITY_KINDS[entity_type]
    if context["kind"] not in enrich.TEMPLATES:
        raise errors.InvalidRequest(f"kind must be one of {', '.join(enrich.TEMPLATES)}", details={"field": "kind"})
    await contexts.put_entity_context(s.db, owner, entity_type, entity_id, context, iso(s.clock.now()))
    return {"entity_type": entity_type, "entity_id": entity_id, "caller": owner, "context": context}


@router.get("/entities/{entity_type}/{entity_id}/context", summary="An entity's stored narrative context")
async def get_context(entity_type: EntityType, entity_id: EntityIdPath, caller: CallerQuery = None,
                      principal: Principal = Depends(require_scope("read")),
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    owner = ownership.entity_caller(principal, caller)
    context = await contexts.get_entity_context(s.db, owner, entity_type, entity_id)
    if context is None:
        raise errors.NotFound(f"no stored context for {entity_type} {entity_id!r}")
    return {"entity_type": entity_type, "entity_id": entity_id, "caller": owner, "context": context}
