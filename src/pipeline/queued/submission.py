"""Submitting a batch or an async job: D1 rows first, then the queue messages.

Each item is admitted for the principal now (scope, caller); the consumer admits it again
when it runs, as the same key (generation/admission.py). The items live in D1; the queue
carries only (batch, index), so a redelivery finds them (consumer.py)."""

from __future__ import annotations

import logging

from .. import errors, retry
from ..auth.keys import Principal
from ..clock import iso
from ..generation import admission, inputs
from ..guarded import guarded
from ..ids import new_id
from ..logs import event as log_event
from ..models import GenerationRequest
from ..services import Services
from ..storage import batches as batch_rows
from .economy import lifecycle as economy, routing as economy_routing

MAX_ITEMS = 100  # one sendBatch (Cloudflare: at most 100 messages per call)


async def submit(
    s: Services, principal: Principal, items: list[GenerationRequest], *, kind: str, caller: str | None,
    webhook_url: str | None, lane: str = "standard", idempotency_key: str | None = None,
) -> str:
    """Store the batch and its items, enqueue one message per item (per provider batch in
    the economy lane: economy/); return the id. Each item is admitted for the principal now
    (scope, caller); the consumer admits it again when it runs, as the same key (admission.py)."""
    items = [admission.admitted_request(principal, item) for item in items]
    s = guarded(s)  # D1 and queue failures as typed errors (503, retryable)
    idempotency_key = admission.checked_idempotency_key(idempotency_key)
    if s.queue is None:
        raise errors.QueueUnavailable("no JOBS queue is configured for batches and async jobs")
    if webhook_url and not s.settings.webhook_secret:
        raise errors.InvalidRequest("webhooks need the WEBHOOK_SECRET secret to sign them", details={"field": "webhook_url"})
    for item in items:  # another caller's inputs are refused now, not after the item was queued
        await inputs.check_inputs(s, item, item.caller or caller or s.settings.default_caller)
    batch_id = new_id("job" if kind == "job" else "bat", s.clock.now())
    bodies = [
        # Each item's own key, else one derived from its place in the submission's Idempotency-Key (else
        # in the batch): a redelivery, or the same submission sent again, replays and never pays twice.
        item.model_dump(mode="json", exclude_none=True)
        | {"idempotency_key": item.idempotency_key or f"{idempotency_key or batch_id}.{i}"}
        for i, item in enumerate(items)
    ]
    now = iso(s.clock.now())
    routes = economy_routing.routes(s, items, lane)  # an economy_only refusal comes before anything is stored
    extra, messages = economy.plan(s, batch_id, routes, [item.n for item in items])
    policy = retry.writes_policy(s.settings.retry_base_delay_s)
    # A D1 write whose answer was lost (it landed) is not written twice; a failed one is retried.
    await retry.durably(
        s.clock, s.clock.monotonic(), "D1 batch", lambda: batch_rows.create(
            s.db, batch_id, kind=kind, caller=caller or s.settings.default_caller, bodies=bodies, webhook_url=webhook_url,
            now=now, lane=lane, extra=extra, api_key_id=principal.key_id),
        request_id=batch_id, policy=policy, landed=lambda: _stored(s, batch_id))
    queue, outgoing = s.queue, [m | {"key_id": principal.key_id} for m in messages]
    try:
        # A send whose answer was lost and is sent again delivers an item twice: harmless,
        # the consumer is idempotent.
        await retry.durably(s.clock, s.clock.monotonic(), "queue send", lambda: queue.send_batch(outgoing),
                            request_id=batch_id, policy=policy)
    except Exception as exc:  # whatever the binding raised, after its retries
        error = {"code": "queue_unavailable", "message": f"the queue refused the items ({type(exc).__name__})"}
        await batch_rows.fail_queued(s.db, batch_id, error, now)
        await batch_rows.try_complete(s.db, batch_id, now)
        raise errors.QueueUnavailable(error["message"], details={"batch_id": batch_id}) from exc
    log_event(logging.INFO, "batch_submitted", batch_id=batch_id, items=len(bodies), lane=lane,
         economy=sum(r.lane == "economy" for r in routes))
    return batch_id


async def _stored(s: Services, batch_id: str) -> bool:
    return await batch_rows.get(s.db, batch_id) is not None
