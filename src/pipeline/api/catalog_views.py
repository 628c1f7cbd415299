"""What the providers offer: capabilities, prices, health, and per-request estimates."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from ..clock import iso
from ..ledger_messages import ProviderState
from .. import catalog
from ..generation import references, selection
from ..generation.prepare import prepare
from ..errors import ImageWorkerError
from ..models import GenerationRequest
from ..providers.base import InputImage
from ..services import Services
from ..storage import price_overrides


def breaker_view(b: ProviderState) -> dict[str, Any]:
    """One breaker as the API shows it: state, since when, and the figures of its window."""
    return {"model": b.model, "state": b.state, "since": iso(datetime.fromtimestamp(b.since_ms / 1000, timezone.utc)),
            "retry_after_s": b.retry_after_s, "recent_calls": b.calls, "recent_failures": b.failures}


async def providers_view(s: Services, *, probe: bool = False) -> dict[str, Any]:
    """`GET /v1/providers`: every configured provider with capabilities, passive
    health (this isolate's recent calls), its breakers (shared by every isolate, one per
    model it was called with) and, when asked, an active probe."""
    await price_overrides.refresh(s.registry.prices, s.db, s.clock)
    breakers = await s.ledger.breakers()
    names = s.registry.names()
    probes: list[Any] = [None] * len(names)
    if probe:
        probes = await asyncio.gather(*(s.registry.providers[n].probe() for n in names), return_exceptions=True)
    out = []
    for name, probed in zip(names, probes, strict=True):
        provider = s.registry.providers[name]
        entry: dict[str, Any] = {
            "name": name,
            "kind": provider.kind or name,
            "capabilities": provider.capabilities.to_dict(),
            "models": models_view(s, provider),
            "prices": provider.price_list(),
            "health": s.registry.health[name].to_dict(),
            "breakers": [breaker_view(b) for b in breakers if b.provider == name],
        }
        if probe:
            entry["probe"] = probed if isinstance(probed, dict) else {"ok": False, "detail": type(probed).__name__}
        out.append(entry)
    return {
        "providers": out,
        "auto_order": selection.auto_order(s.registry, s.settings),
        "prices_as_of": catalog.PRICES_AS_OF,
        "price_unit": "micro-dollars (1000000 = $1)",
    }


def models_view(s: Services, provider: Any) -> list[dict[str, Any]]:
    """Each catalog model of a provider: status and shutdown date on today's UTC date,
    capabilities, the price in force, whether it is the default, and whether the provider
    recently answered that it is unavailable."""
    if not provider.kind:
        return []
    day = s.clock.now().date()
    gone = s.registry.models.to_dict(provider.name, s.clock.monotonic())
    default = provider.default_model(frozenset(gone))
    return [m.to_dict(day, s.registry.prices.price(m)) | {"default": m.id == default, "unavailable": gone.get(m.id)}
            for m in provider.catalog.models]


async def estimates(s: Services, req: GenerationRequest) -> dict[str, Any]:
    """`POST /v1/estimate`: the estimate from every provider able to serve `req`,
    and which one auto mode would pick. Nothing is reserved or called."""
    # Only the count of input images matters for a price; their bytes are not fetched.
    await price_overrides.refresh(s.registry.prices, s.db, s.clock)
    images = tuple(InputImage(b"", "image/png") for _ in req.images)
    mask = InputImage(b"", "image/png") if req.mask is not None else None
    refs = references.stand_ins(req)  # priced per reference, not fetched
    found, unavailable = [], {}
    for name in s.registry.names():
        provider = s.registry.providers[name]
        try:
            preq = prepare(provider, req.model_copy(update={"model": req.model if req.model in provider.capabilities.models else None}), images, mask, refs)
        except ImageWorkerError as exc:
            unavailable[name] = exc.message
            continue
        cost = provider.estimate(preq)
        found.append({
            "provider": name, "model": preq.model, "cost_micros": cost.cost_micros, "basis": cost.basis,
            "size": preq.size, "quality": preq.quality, "warnings": list(preq.warnings),
        })
    try:
        auto_req = req.model_copy(update={"provider": None})
        auto_pick: str | None = selection.plan(s.registry, s.settings, auto_req, images, mask, references=refs).primary.name
    except ImageWorkerError:
        auto_pick = None
    return {"auto_pick": auto_pick, "estimates": found, "unavailable": unavailable}
