"""`GET /v1/prices` and `PUT`/`DELETE /v1/prices/{model}`: the catalog's prices, and
run-time overrides an admin sets without a deploy (recorded in D1 with who and why).

Reading needs `read`; changing a price needs `admin` (it changes what every request costs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from .. import catalog
from ..models import LABEL_PATTERN
from ..storage import price_overrides
from ..services import Services
from .deps import get_services, require_scope, require_token

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["prices"])

# Model ids contain "/" (Workers AI's "@cf/leonardo/lucid-origin"): the path parameter takes the rest.
_MODEL = Path(..., min_length=1, max_length=128, pattern=LABEL_PATTERN, description="catalog model id, e.g. gpt-image-2.6-flare")


class PriceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rates: dict[str, int] = Field(..., description="micro-dollars: per 1M tokens, per image, or per unit, as the model is billed")
    reason: str = Field(..., min_length=3, max_length=500, description="why (e.g. the provider's new price page)")
    set_by: str = Field(default="admin", min_length=1, max_length=128)


class PriceReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=3, max_length=500)
    set_by: str = Field(default="admin", min_length=1, max_length=128)


@router.get("/prices", summary="Every catalog model's price in force, its catalog price, source and date")
async def get_prices(s: Services = Depends(get_services)) -> dict[str, Any]:
    await price_overrides.refresh(s.registry.prices, s.db, s.clock, force=True)
    out = []
    day = s.clock.now().date()
    for kind, cat in catalog.CATALOGS.items():
        if kind == "gemini-vertex":
            continue  # the same models and prices as gemini
        for spec in cat.models:
            entry = {"provider": kind, "model": spec.id, "label": spec.label, **spec.lifecycle.to_dict(day),
                     "price": s.registry.prices.price(spec).to_dict()}
            if spec.id in s.registry.prices.overrides:
                entry["catalog_price"] = spec.price.to_dict()
            out.append(entry)
    return {"prices": out, "prices_as_of": catalog.PRICES_AS_OF, "price_unit": "micro-dollars (1000000 = $1)"}


@router.get("/prices/history", summary="Recorded overrides, newest first")
async def price_history(model: str | None = Query(default=None, min_length=1, max_length=128, pattern=LABEL_PATTERN),
                        s: Services = Depends(get_services)) -> dict[str, Any]:
    return {"history": await price_overrides.history(s.db, model)}


@router.put("/prices/{model:path}", dependencies=[Depends(require_scope("admin"))], summary="Override a model's rates now, without a deploy (recorded)")
async def put_price(body: PriceChange, model: str = _MODEL, s: Services = Depends(get_services)) -> dict[str, Any]:
    return await price_overrides.set_override(s.db, s.clock, s.registry.prices, model, body.rates, body.reason, body.set_by)


@router.delete("/prices/{model:path}", dependencies=[Depends(require_scope("admin"))], summary="Back to the catalog's price (recorded)")
async def delete_price(body: PriceReset, model: str = _MODEL, s: Services = Depends(get_services)) -> dict[str, Any]:
    return await price_overrides.set_override(s.db, s.clock, s.registry.prices, model, None, body.reason, body.set_by)
