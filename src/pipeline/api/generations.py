"""`GET /v1/generations` (filtered, cursor-paginated) and `DELETE /v1/generations/{id}`."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query

from .. import errors
from ..auth import ownership
from ..auth.keys import Principal
from ..models import EntityType, Status
from ..services import Services
from ..storage.listing import Filters, delete_generation, has_column, list_query
from ..storage.results import to_result
from ..storage.store import TERMINAL, Store
from .deps import get_services, require_scope
from .params import IdPath

router = APIRouter(prefix="/v1", tags=["generations"])

DAY = r"^\d{4}-\d{2}-\d{2}$"
GEN_ID = r"^gen_[0-9A-HJKMNP-TV-Z]{26}$"
NAME = r"^[a-z0-9][a-z0-9_.:-]{0,63}$"


def parse_day(name: str, value: str | None) -> date | None:
    """A real calendar day (the pattern alone lets 2026-02-30 through)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise errors.InvalidRequest(f"{name} is not a real UTC day: {value!r}", details={"field": name}) from None


@router.get("/generations", summary="Generations, newest first, filtered and cursor-paginated")
async def list_generations(
    status: Status | None = Query(None),
    provider: str | None = Query(None, pattern=NAME, description="the provider that served (or last failed)"),
    caller: str | None = Query(None, min_length=1, max_length=128, description="only this caller's (admin and review keys: any)"),
    entity_type: EntityType | None = Query(None, description="with entity_id: generations with an image linked to it"),
    entity_id: str | None = Query(None, min_length=1, max_length=200),
    approval: str | None = Query(None, pattern=r"^(pending|approved|rejected)$", description="any image in this state"),
    day_from: str | None = Query(None, alias="from", pattern=DAY, json_schema_extra={"format": "date"}, description="first UTC day, YYYY-MM-DD"),
    day_to: str | None = Query(None, alias="to", pattern=DAY, json_schema_extra={"format": "date"}, description="last UTC day, inclusive"),
    before: str | None = Query(None, pattern=GEN_ID, description="cursor: `next_before` of the previous page"),
    limit: int = Query(20, ge=1, le=100),
    principal: Principal = Depends(require_scope("read")),
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    if (entity_type is None) != (entity_id is None):
        raise errors.InvalidRequest("give entity_type and entity_id together", details={"field": "entity_id"})
    caller = ownership.listing_caller(principal, caller)
    if approval is not None and not await has_column(s.db, "images", "approval_status"):
        # No approvals in this deployment: no image is in any approval state, so nothing matches.
        return {"items": [], "next_before": None}
    first, last = parse_day("from", day_from), parse_day("to", day_to)
    if first and last and first > last:
        raise errors.InvalidRequest("from is after to", details={"field": "from"})
    filters = Filters(
        status=status, provider=provider, caller=caller,
        entity_type=entity_type, entity_id=entity_id, approval=approval, day_from=first, day_to=last,
    )
    sql, params = list_query(filters, before, limit + 1)
    store = Store(s.db, s.clock)
    rows = await store._with_details(await s.db.all(sql, params))  # the store's own join
    items = [to_result(row, s.settings.public_base_url) for row in rows[:limit]]
    return {"items": items, "next_before": items[-1]["id"] if len(rows) > limit else None}


@router.delete("/generations/{request_id}", summary="Delete a finished generation: its images (R2) and rows (D1)")
async def delete(
    request_id: IdPath, principal: Principal = Depends(require_scope("generate")), s: Services = Depends(get_services)
) -> dict[str, Any]:
    row = await ownership.generation(s.db, principal, request_id)
    if row["status"] not in TERMINAL:
        raise errors.Conflict(f"generation {request_id!r} is still {row['status']}; delete it once it has finished")
    return {"deleted": True, **await delete_generation(s.db, s.objects, request_id)}

