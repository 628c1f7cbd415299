"""The request's `pending` row, written before any money moves, for every lane.

What a row records of the request is decided here once: its parameters without the prompt
and the inputs' bytes (how many input images, whether a mask), the links, the key that
asked, the narrative context used, the prompt the first candidate is sent and the entities'
images it used as references. A lane adds
only its own facts (`extra`: a retry's first request, the economy lane's provider batch)."""

from __future__ import annotations

from typing import Any, Sequence

from .. import enrich
from ..storage.store import Store
from .selection import Plan
from .state import Admitted


async def create_row(store: Store, admitted: Admitted, request_id: str, plan: Plan, enrichment: enrich.Enrichment, *,
                     input_images: int = 0, mask: bool = False, extra: dict[str, Any] | None = None,
                     references: Sequence[dict[str, Any]] = ()) -> bool:
    """Insert the row; False when the caller's idempotency key already belongs to another."""
    req = admitted.req
    params = (req.model_dump(exclude={"prompt", "images", "mask", "links", "references"}, exclude_none=True)
              | {"input_images": input_images, "mask": mask} | (extra or {}))
    return await store.create_request(
        request_id, caller=admitted.caller, kind="edit" if req.is_edit else "generate", prompt=req.prompt,
        params=params, requested_provider=None if req.wants_auto else req.provider, n=req.n,
        links=[link.model_dump() for link in req.links], idempotency_key=req.idempotency_key,
        request_hash=admitted.request_hash, api_key_id=admitted.api_key_id, context=enrichment.context,
        sent_prompt=plan.primary.preq.prompt, references=list(references))
