"""Each economy result as an ordinary stored generation, and its money settled.

Order, for "never lose a paid result, never charge twice": the images go to R2,
then one D1 batch records them with links, usage and `succeeded` (storage/store.py,
the same as the standard lane), then the ledger settles at the batch price, then
the economy item closes and the batch item ends. A redelivery after a crash at any
step finds the generation already stored and only repeats the idempotent rest."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from .. import errors
from ..catalog.batch import BatchOffer
from ..clock import iso
from ..ledger.messages import ReleaseRequest, SettleRequest
from ..models import GenerationRequest
from ..providers.base import ProviderRequest, ProviderResult
from ..services import Services
from ..storage import batches as batch_rows, images
from ..storage.store import Attempt, Store
from . import rows


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
    provider request rounded up on its own, as it is billed)."""
    store = Store(s.db, s.clock)
    request_id = str(item["request_id"])
    standard = int(result.cost_micros)
    charged = sum(offer.batch_micros(c) for c in part_costs) if part_costs else offer.batch_micros(standard)
    count = len(result.images)
    row = await store.get_request(request_id)
    if row is not None and row["status"] not in ("succeeded", "failed", "refused"):
        preq = preq_from_json(json.loads(item["preq"]))
        stored = []
        try:
            for image in result.images:
                stored.append(await images.put_image(s.objects, image, request_id=request_id, index=len(stored),
                                                     provider=pb["provider"], model=result.model, when=s.clock.now()))
            result.images = []  # one item's bytes at a time
            note = f"economy lane: {pb['provider']} batch {pb['provider_batch_id']} at {offer.rate_bp / 100:g}% of the standard price"
            await store.succeed(
                request_id, images=stored,
                attempt=Attempt(request_id, pb["provider"], result.model, 1, "succeeded", images=len(stored),
                                filtered=result.filtered, cost_micros=charged, usage=result.usage),
                provider=pb["provider"], model=result.model, size=result.size or preq.size, actual_micros=charged,
                warnings=list(dict.fromkeys([*preq.warnings, *result.warnings, note])),
                links=[link.model_dump() for link in body.links], approval_status=s.settings.approval_default,
            )
        except BaseException:
            await images.delete_images(s.objects, stored)
            raise
    await s.ledger.settle(SettleRequest(request_id, charged, provider=pb["provider"], model=result.model, images=count,
                                        note={"lane": "economy", "standard_micros": standard}))
    await rows.close_item(s.db, request_id, state="settled", charged=charged, standard=standard, now=iso(s.clock.now()))
    await _finish_item(s, item, "succeeded", None)


async def fail(s: Services, item: dict[str, Any], exc: errors.ImageWorkerError) -> None:
    """A failed line is not billed: the generation ends with the provider's error, the hold is released."""
    status = "refused" if isinstance(exc, (errors.ProviderRefused, errors.BudgetExceeded)) else "failed"
    error = exc.to_dict()
    await Store(s.db, s.clock).finish_unsuccessfully(str(item["request_id"]), status=status, error=error)
    await s.ledger.release(ReleaseRequest(str(item["request_id"]), error["code"]))
    if "request_id" in item and "custom_id" in item:
        await rows.close_item(s.db, str(item["request_id"]), state="released", charged=0, standard=0, now=iso(s.clock.now()))
    await _finish_item(s, item, status, error)
