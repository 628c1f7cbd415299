"""`GET`/`PUT /v1/budget` and `GET /v1/usage`: budgets, limits and spend, live."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .. import errors
from .. import ownership
from ..auth.keys import Principal
from ..queued.economy import views as economy_views
from .deps import get_services, require_scope, require_token
from ..clock import utc_day
from ..models import MAX_MICROS, whole_number
from ..ledger.breaker import MIN_COOLDOWN_S
from ..ledger.core import MIN_LEASE_S
from ..services import Services
from ..storage.store import Store
from ..delivery.variants import transformation_usage

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["budget"])

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class BudgetChanges(BaseModel):
    """Only the settings to change; money in micro-dollars, leases in seconds."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})  # at least one change

    # strict: a boolean or a string is not a money amount; MAX_MICROS keeps it exact in JSON
    # Only the two caps may be null ("no cap"); the ledger refuses null for the rest, so their
    # type is not nullable (the default None only means "not sent" and is dropped below).
    daily_budget_micros: int = Field(default=None, ge=0, le=MAX_MICROS, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    caller_daily_budget_micros: dict[str, Annotated[int, Field(ge=0, le=MAX_MICROS, strict=True)]] = None  # type: ignore[assignment]  # None means left unchanged: a partial update
    default_caller_daily_budget_micros: int | None = Field(default=None, ge=0, le=MAX_MICROS, strict=True)
    max_cost_per_image_micros: int | None = Field(default=None, ge=0, le=MAX_MICROS, strict=True)
    global_concurrency: int = Field(default=None, ge=1, le=10_000, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    provider_concurrency: dict[str, Annotated[int, Field(ge=1, le=10_000, strict=True)]] = None  # type: ignore[assignment]  # None means left unchanged: a partial update
    # at least MIN_LEASE_S: a lease shorter than a provider call would let two requests spend the same money
    reservation_lease_s: int = Field(default=None, ge=MIN_LEASE_S, le=86_400, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    slot_lease_s: int = Field(default=None, ge=MIN_LEASE_S, le=86_400, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    # the provider breakers (docs/providers.md): when a provider's circuit opens, and for how long
    breaker_window_s: int = Field(default=None, ge=1, le=3_600, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    breaker_min_calls: int = Field(default=None, ge=1, le=10_000, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    breaker_failures: int = Field(default=None, ge=1, le=10_000, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    breaker_failure_percent: int = Field(default=None, ge=1, le=100, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update
    breaker_cooldown_s: int = Field(default=None, ge=MIN_COOLDOWN_S, le=86_400, strict=True)  # type: ignore[assignment]  # None means left unchanged: a partial update

    @field_validator("*", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        """JSON Schema's integers include 2213.0 (models.whole_number), in the maps' values too.
        A validator here, not in the field types, keeps their bounds in the OpenAPI document."""
        return {k: whole_number(v) for k, v in value.items()} if isinstance(value, dict) else whole_number(value)


@router.get("/budget", summary="Budgets, caps and concurrency limits in force, and today's spend"
            " (a key without review or admin: its own caller's and key's only)")
async def get_budget(principal: Principal = Depends(require_scope("read")),
                     s: Services = Depends(get_services)) -> dict[str, Any]:
    config = await s.ledger.get_config()
    today = utc_day(s.clock.now())
    usage = await s.ledger.usage(today, today)
    if ownership.listing_caller(principal, None) is None:
        return {"config": config, "today": usage.budget}
    return caller_budget_view(principal, config, usage.budget)


def caller_budget_view(principal: Principal, config: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """What a caller's own key may know: its caller's budget and spend today, its key's, the
    per-image cap; never another caller's figures or the service's totals."""
    caller = principal.caller
    own = status.get("callers", {}).get(caller) or {
        "budget_micros": config.get("caller_daily_budget_micros", {}).get(caller,
                                                                       config.get("default_caller_daily_budget_micros")),
        "spent_micros": 0, "reserved_micros": 0, "remaining_micros": None}
    key = status.get("keys", {}).get(principal.key_id or "") or {"spent_micros": 0, "reserved_micros": 0}
    return {"caller": caller,
            "config": {"max_cost_per_image_micros": config.get("max_cost_per_image_micros"),
                       "caller_daily_budget_micros": own["budget_micros"],
                       "key_daily_budget_micros": principal.daily_budget_micros},
            "today": {"day": status.get("day"), "caller": own, "key": key if principal.key_id else None}}


@router.put("/budget", dependencies=[Depends(require_scope("admin"))],
            summary="Change budgets or limits; effective immediately (admin)")
async def put_budget(
    body: BudgetChanges = Body(..., openapi_examples={"raise": {"value": {"daily_budget_micros": 25_000_000}}}),
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    # `exclude_unset` keeps an explicit null (e.g. "remove the default cap") distinct from "not sent".
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise errors.InvalidRequest("send at least one setting to change")
    config = await s.ledger.put_config(changes)
    return {"config": config}


@router.get("/usage", summary="Per day and provider/model: requests, images, reserved, spent, refused; image transformations")
async def get_usage(
    day_from: str | None = Query(None, alias="from", pattern=_DAY.pattern, json_schema_extra={"format": "date"},
                                 description="first UTC day, YYYY-MM-DD (default: 6 days ago)"),
    day_to: str | None = Query(None, alias="to", pattern=_DAY.pattern, json_schema_extra={"format": "date"},
                               description="last UTC day (default: today)"),
    principal: Principal = Depends(require_scope("read")),
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    now = s.clock.now()
    day_to = day_to or utc_day(now)
    day_from = day_from or utc_day(now - timedelta(days=6))
    for name, value in (("from", day_from), ("to", day_to)):
        if not _DAY.match(value):
            raise errors.InvalidRequest(f"{name} must be a UTC day like 2026-11-24", details={"field": name})
        try:  # the pattern lets 2026-02-30 through
            date.fromisoformat(value)
        except ValueError:
            raise errors.InvalidRequest(f"{name} is not a real UTC day: {value!r}", details={"field": name}) from None
    if day_from > day_to:
        raise errors.InvalidRequest("from is after to", details={"field": "from"})
    caller = ownership.listing_caller(principal, None)
    if caller is not None:  # a caller's own key: its caller's recorded attempts, nothing service-wide
        return {"from": day_from, "to": day_to, "caller": caller,
                "recorded": await Store(s.db, s.clock).caller_daily_usage(caller, day_from, day_to)}
    recorded = await Store(s.db, s.clock).daily_usage(day_from, day_to)
    # `recorded`: D1's per-attempt record, rolled up by the cron (at most ~5 minutes old).
    ledger = await s.ledger.usage(day_from, day_to)
    lanes = await economy_views.lanes(s, day_from, day_to, ledger.days)
    transformations = await transformation_usage(s.db, day_from, day_to)
    return {"from": day_from, "to": day_to, "days": ledger.days, "budget": ledger.budget, "recorded": recorded, "lanes": lanes,
            "image_transformations": transformations}
