"""A request's plan, for every lane: run-time prices, the narrative context composed into
the prompt (enrich.py), the ordered candidates (selection.py), each fitted to its own
provider's prompt limit. The standard lane plans with the input images it loaded; the
economy lane plans at submission and at its provider batch's submit with none (batch APIs
serve no edits: catalog/batch.py, so an edit is routed by its operation, not its inputs)."""

from __future__ import annotations

from dataclasses import replace

from .. import enrich
from ..models import GenerationRequest
from ..providers.base import InputImage
from ..services import Services
from ..storage import price_overrides
from . import references, selection


async def plan_request(s: Services, req: GenerationRequest, images: tuple[InputImage, ...] = (),
                       mask: InputImage | None = None, partial_images: int = 0,
                       now: float | None = None,
                       refs: references.References | None = None) -> tuple[selection.Plan, enrich.Enrichment]:
    """The plan and the enrichment behind its prompts (the context is stored with the request).
    With `now`, providers whose shared breaker this isolate knows to be open are skipped (selection.py)."""
    await price_overrides.refresh(s.registry.prices, s.db, s.clock)  # run-time price overrides
    # Narrative context -> the prompt sent; a referenced entity is the request's own caller's
    # (admission set `caller` on every lane's request).
    # With references (references.py), a referenced entity's context and the legend naming the images.
    caller = req.caller or s.settings.default_caller
    enrichment = await enrich.enrichment_for(s, references.for_enrichment(req, refs) if refs else req, caller)
    if refs is not None:
        enrichment = replace(enrichment, prompt=enrichment.prompt + refs.legend)
    composed = req.model_copy(update={"prompt": enrichment.compose().text})
    plan = selection.plan(s.registry, s.settings, composed, images, mask, partial_images, now=now,
                          references=refs.images if refs is not None else ())
    plan = enrich.fit_plan(plan, enrichment)  # each candidate within its model's prompt limit
    return (references.with_warnings(plan, refs) if refs is not None else plan), enrichment
