"""Which lane an item runs in, and what the economy lane would charge.

An item goes to the economy lane when a candidate of its plan (the same selection
as the standard lane, in the same order) is a provider whose batch API serves the
model and the operation (catalog/batch.py). Otherwise it runs in the standard lane
with a warning saying why, or, under `economy_only`, the submission is refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ... import enrich, errors
from ...catalog.batch import BatchOffer, offer_for
from ...generation import planning, selection
from ...models import GenerationRequest
from ...services import Services
from .adapters import ADAPTERS

Lane = Literal["standard", "economy", "economy_only"]
LANES: tuple[str, ...] = ("standard", "economy", "economy_only")


@dataclass(frozen=True)
class Route:
    lane: Literal["standard", "economy"]
    provider: str | None = None  # economy: the provider instance whose batch API serves it
    model: str | None = None
    offer: BatchOffer | None = None
    warning: str | None = None  # standard after economy was asked: why


def _operation(req: GenerationRequest) -> str:
    return "edit" if req.is_edit else "reference" if req.references else "generate"


def economy_candidate(s: Services, plan: selection.Plan, op: str) -> tuple[selection.Candidate | None, BatchOffer | None, str]:
    """The first candidate a batch API serves, or (None, None, why none)."""
    reasons = []
    for candidate in plan.candidates:
        offer, why = offer_for(candidate.provider.kind, candidate.preq.model, op)
        if offer is not None and candidate.provider.kind in ADAPTERS:
            return candidate, offer, ""
        reasons.append(f"{candidate.name}: {why}")
    return None, None, "; ".join(reasons)


def route(s: Services, req: GenerationRequest) -> Route:
    """The lane of one economy item (at submission: nothing is fetched or reserved). Planned
    without its inputs: batch APIs serve no edits, so an edit is routed by its operation."""
    try:
        plan = selection.plan(s.registry, s.settings, req)
    except errors.ImageWorkerError as exc:
        return Route("standard", warning=f"economy lane unavailable: {exc.message}")
    candidate, offer, why = economy_candidate(s, plan, _operation(req))
    if candidate is None:
        return Route("standard", warning=f"economy lane unavailable, ran in the standard lane ({why})")
    return Route("economy", candidate.name, candidate.preq.model, offer)


def routes(s: Services, items: list[GenerationRequest], lane: str) -> list[Route]:
    """Every item's route; under `economy_only` an item no batch API serves refuses the batch."""
    if lane == "standard":
        return [Route("standard") for _ in items]
    found = [route(s, item) for item in items]
    refused = {i: r.warning for i, r in enumerate(found) if r.lane != "economy"}
    if lane == "economy_only" and refused:
        raise errors.EconomyOnly(
            "lane economy_only: no provider's batch API serves some items; nothing was queued",
            details={"field": "lane", "items": {str(i): w for i, w in refused.items()}})
    return found


async def plan_item(s: Services, req: GenerationRequest, provider: str, model: str) -> tuple[selection.Plan, enrich.Enrichment]:
    """The item's plan (planning.py, as every lane's) pinned to its provider batch's provider and model."""
    pinned = req.model_copy(update={"provider": provider, "model": model, "fallback": False})
    return await planning.plan_request(s, pinned)


async def estimate(s: Services, req: GenerationRequest, answer: dict[str, Any]) -> dict[str, Any]:
    """`POST /v1/estimate` with `lane: economy`: each estimate at the batch price (with the
    standard price beside it and the provider's promised window), or why it stays standard."""
    op = _operation(req)
    for entry in answer["estimates"]:
        provider = s.registry.get(entry["provider"])
        offer, why = offer_for(provider.kind, entry["model"], op) if provider is not None else (None, "not configured")
        if offer is None or provider is None or provider.kind not in ADAPTERS:
            entry.update(lane="standard", lane_note=f"economy lane unavailable: {why}")
            continue
        standard = entry["cost_micros"]
        entry.update(lane="economy", standard_cost_micros=standard, cost_micros=offer.batch_micros(standard),
                     window_s=offer.window_s, basis=f"{entry['basis']}; batch price {offer.rate_bp / 100:g}% ({offer.source})",
                     lane_note=f"results within {offer.window_s // 3600} h (the provider's window); unfinished work"
                               f" after {offer.gives_up_s // 3600} h is not charged")
    answer["lane"] = "economy"
    return answer
