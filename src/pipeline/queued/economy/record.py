"""Each economy result as an ordinary stored generation, and its money settled.

Order, for "never lose a paid result, never charge twice": the images go to R2,
then one D1 batch records them with links, usage and `succeeded` (generation/outcome.py,
the same functions as the standard lane), then the ledger settles at the batch price, then
the economy item closes and the batch item ends. A redelivery after a crash at any
step finds the generation already stored and only repeats the idempotent rest."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from ... import errors
from ...catalog.batch import BatchOffer
from ...clock import iso
from ...ledger_messages import ReleaseRequest, SettleRequest
from ...models import GenerationRequest
from ...providers.base import ProviderRequest, ProviderResult
from ...services import Services
from ...generation import outcome, reservation
from ...storage import batches as batch_rows
from ...storage.store import TERMINAL, Attempt, Store
from ...storage import economy_rows


def preq_to_json(preq: ProviderRequest) -> dict[str, Any]:
    """The provider request without image bytes (the economy lane takes no edits)."""
    data = asdict(preq)
    data.pop("images", None)
    data.pop("mask", None)
    return data


def preq_from_json(data: dict[str, Any]) -> ProviderRequest:
    return ProviderRequest(**{**data, "warnings": tuple(data.get("warnings") or ())})


async def _finish_item(s: Services, item: dict[str, Any], status: str, error: dict[str, Any] | None) -> None:
    await batch_rows.finish_item(s.db, item["batch_id"], int(item["idx"]), status=status, request_id=item["request_id"],
                                 error=error, now=iso(s.clock.now()))


async def succeed(s: Services, pb: dict[str, Any], item: dict[str, Any], body: GenerationRequest,
                  result: ProviderResult, offer: BatchOffer, part_costs: list[int] | None = None) -> None:
    """Store the item's images and settle at the batch price of its reported usage (each
    provider request rounded up on its own, as it is billed). The writes and the policy when
    storage gives up are every lane's (generation/outcome.py): R2 and D1 are retried; when D1
    still gives up the images stay in R2 and the item stays open, so the next delivery (or the
    cron's rekick) collects it again and records it, never a second charge."""
    store = Store(s.db, s.clock)
    request_id = str(item["request_id"])
    standard = int(result.cost_micros)
    charged = sum(offer.batch_micros(c) for c in part_costs) if part_costs else offer.batch_micros(standard)
    count = len(result.images)
    row = await store.get_request(request_id)
    if row is not None and row["status"] not in TERMINAL:
        preq = preq_from_json(json.loads(item["preq"]))
        provider = pb["provider"]
        deadline = s.clock.monotonic()  # no request waits on it: the retries' own grace only
        kept = await outcome.put_images(s, result.images, request_id=request_id, first_index=0, provider=provider,
                                        model=result.model, deadline=deadline)
        result.images = []  # one item's bytes at a time
        if kept.error is not None and not kept.rows:
            raise kept.error  # nothing stored: the next delivery collects the item again
        note = f"economy lane: {provider} batch {pb['provider_batch_id']} at {offer.rate_bp / 100:g}% of the standard price"
        lost = (outcome.lost_warning(kept.lost, kept.error.code),) if kept.error is not None else ()
        await outcome.record_success(s, store, outcome.Success(
            request_id, provider, result.model, result.size or preq.size, kept.rows,
            Attempt(request_id, provider, result.model, 1, "succeeded", images=len(kept.rows),
                    filtered=result.filtered, cost_micros=charged, usage=result.usage),
            charged_micros=charged, warnings=outcome.warnings_of(preq.warnings, result, provider, (*lost, note)),
            links=outcome.links_of(body)), deadline=deadline)
    await reservation.settle_charge(s, SettleRequest(request_id, charged, provider=pb["provider"], model=result.model,
                                                     images=count, note={"lane": "economy", "standard_micros": standard}))
    await economy_rows.close_item(s.db, request_id, state="settled", charged=charged, standard=standard, now=iso(s.clock.now()))
    await _finish_item(s, item, "succeeded", None)


async def fail(s: Services, item: dict[str, Any], exc: errors.ImageWorkerError) -> None:
    """A failed line is not billed: the generation ends with the provider's error (outcome.py,
    as every lane's failure), the hold is released."""
    status = outcome.failure_status(exc)
    error = exc.to_dict()
    await outcome.record_failure(s, Store(s.db, s.clock), outcome.Failure(str(item["request_id"]), status, error))
    await s.ledger.release(ReleaseRequest(str(item["request_id"]), error["code"]))
    if "request_id" in item and "custom_id" in item:
        await economy_rows.close_item(s.db, str(item["request_id"]), state="released", charged=0, standard=0, now=iso(s.clock.now()))
    await _finish_item(s, item, status, error)
