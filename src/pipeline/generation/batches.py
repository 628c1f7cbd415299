"""Batches and async jobs: submit (D1 rows, then queue messages), the queue consumer
(each item through the same `Generation`), completion and the webhook.

Why this survives a crash: the items live in D1, the queue only carries
(batch, index). A message is acked after its item is terminal; if the isolate
dies first, the queue redelivers, and the item's idempotency key makes the
generation replay its stored result instead of paying again. A redelivery that
finds the earlier generation still `running` (its isolate may be dead) retries
later: the stale-request sweep ends such rows, and the next delivery records that."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any, Awaitable, Callable

from .. import errors
from ..clock import iso
from ..ids import new_id
from ..models import GenerationRequest
from ..guarded import guarded
from ..services import Services
from ..storage import batches as rows
from ..logs import event as log_event
from ..storage.store import Store
from ..auth.keys import Principal
from . import admission, inputs, storage_retry
from .generation import Generation
from ..economy import lifecycle as economy, routing as economy_routing
from .batch_status import finish_batch

MAX_ITEMS = 100  # one sendBatch (Cloudflare: at most 100 messages per call)
IN_PROGRESS_RETRY_S = (10, 30, 60, 120, 300)  # waits for a generation another delivery is running


def _log(event: str, **fields: Any) -> None:
    log_event(logging.INFO, event, **fields)


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
    policy = storage_retry.policy_for(s.settings.retry_base_delay_s)
    # A D1 write whose answer was lost (it landed) is not written twice; a failed one is retried.
    await storage_retry.durably(
        s.clock, s.clock.monotonic(), "D1 batch", lambda: rows.create(
            s.db, batch_id, kind=kind, caller=caller or s.settings.default_caller, bodies=bodies, webhook_url=webhook_url,
            now=now, lane=lane, extra=extra, api_key_id=principal.key_id),
        request_id=batch_id, policy=policy, landed=lambda: _stored(s, batch_id))
    queue, outgoing = s.queue, [m | {"key_id": principal.key_id} for m in messages]
    try:
        # A send whose answer was lost and is sent again delivers an item twice: harmless,
        # the consumer is idempotent.
        await storage_retry.durably(s.clock, s.clock.monotonic(), "queue send", lambda: queue.send_batch(outgoing),
                                    request_id=batch_id, policy=policy)
    except Exception as exc:  # whatever the binding raised, after its retries
        error = {"code": "queue_unavailable", "message": f"the queue refused the items ({type(exc).__name__})"}
        await rows.fail_queued(s.db, batch_id, error, now)
        await rows.try_complete(s.db, batch_id, now)
        raise errors.QueueUnavailable(error["message"], details={"batch_id": batch_id}) from exc
    _log("batch_submitted", batch_id=batch_id, items=len(bodies), lane=lane,
         economy=sum(r.lane == "economy" for r in routes))
    return batch_id


async def _stored(s: Services, batch_id: str) -> bool:
    return await rows.get(s.db, batch_id) is not None


# --- the consumer -------------------------------------------------------------


async def consume(s: Services, messages: list[dict[str, Any]]) -> None:
    """The queue handler: each message is {id, body, attempts, ack(), retry(delay_s)}.
    Runs at most BATCH_CONCURRENCY items at once; acks what is done, retries the rest."""
    gate = asyncio.Semaphore(s.settings.batch_concurrency)

    async def one(message: dict[str, Any]) -> None:
        attempts = int(message.get("attempts") or 1)
        async with gate:
            try:
                handler = HANDLERS.get((message.get("body") or {}).get("type"), _unknown)
                delay = await handler(s, message["body"], attempts)
            except Exception as exc:  # noqa: BLE001 - one bad item must not sink the others
                _log("queue_message_failed", id=message.get("id"), attempts=attempts, error=type(exc).__name__)
                delay = IN_PROGRESS_RETRY_S[min(attempts, len(IN_PROGRESS_RETRY_S)) - 1]
        if delay is None:
            await _call(message["ack"])
        else:
            await _call(message["retry"], delay)

    await asyncio.gather(*(one(m) for m in messages))


async def _call(fn: Callable[..., Any], *args: Any) -> None:
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


async def _unknown(s: Services, body: dict[str, Any], attempts: int) -> None:
    _log("queue_message_unknown", type=str(body.get("type")))  # acked: retrying cannot help


async def run_item(s: Services, body: dict[str, Any], attempts: int) -> float | None:
    """One batch item through the pipeline; None when done, else seconds until a retry."""
    batch_id, idx = str(body["batch_id"]), int(body["idx"])
    item = await rows.item(s.db, batch_id, idx)
    if item is None:
        return None
    if item["status"] not in rows.TERMINAL:
        req = GenerationRequest.model_validate(json.loads(item["body"]))
        try:  # the key recorded with the batch in D1 (the message's copy is for logs only)
            principal = await admission.queued_principal(s, item["api_key_id"], req.caller or s.settings.default_caller)
        except errors.ImageWorkerError as exc:
            await rows.finish_item(s.db, batch_id, idx, status="refused", request_id=None, error=exc.to_dict(),
                                   now=iso(s.clock.now()))
            _log("batch_item_done", batch_id=batch_id, idx=idx, status="refused", reason=exc.code)
            await finish_batch(s, batch_id)
            return None
        generation = admission.admit(s, principal, req)
        await rows.start_item(s.db, batch_id, idx, generation.request_id, iso(s.clock.now()))
        try:
            result = await generation.result()
            status, request_id, error = "succeeded", result["id"], None
        except errors.ImageWorkerError as exc:
            request_id = exc.details.get("request_id")
            if await _still_running(s, generation):
                return IN_PROGRESS_RETRY_S[min(attempts, len(IN_PROGRESS_RETRY_S)) - 1]
            row = await Store(s.db, s.clock).get_request(request_id) if request_id else None
            if isinstance(exc, errors.IsolateBusy) or _unpaid_binding_failure(exc, row):
                # This isolate had no memory for it, or our own D1, R2, ledger or queue failed,
                # and nothing was paid: the queue tries again
                # (the redelivery's generation is a new attempt under the same key; never a second charge).
                return IN_PROGRESS_RETRY_S[min(attempts, len(IN_PROGRESS_RETRY_S)) - 1]
            status = row["status"] if row and row["status"] in rows.TERMINAL else "failed"
            error = exc.to_dict()
        await rows.finish_item(s.db, batch_id, idx, status=status, request_id=request_id, error=error,
                               now=iso(s.clock.now()))
        _log("batch_item_done", batch_id=batch_id, idx=idx, status=status, deliveries=attempts)
    await finish_batch(s, batch_id)  # also after a redelivery: the crash may have come just before
    return None


HANDLERS: dict[str, Callable[[Services, dict[str, Any], int], Awaitable[float | None]]] = {
    "item": run_item, "economy_submit": economy.on_submit, "economy_poll": economy.on_poll}


def _unpaid_binding_failure(exc: errors.ImageWorkerError, row: dict[str, Any] | None) -> bool:
    """A binding of ours failed the generation before a provider billed anything (or before
    its row could say so): worth a redelivery. A paid failure is final for the item."""
    if not isinstance(exc, errors.BindingUnavailable):
        return False
    return row is None or row["status"] not in rows.TERMINAL or not row["actual_cost_micros"]


async def _still_running(s: Services, generation: Generation) -> bool:
    """Did the idempotency key lead to a generation that is not finished yet?"""
    key = generation.req.idempotency_key
    found = await Store(s.db, s.clock).find_by_idempotency_key(generation.caller, key) if key else None
    return found is not None and found["status"] in ("pending", "running")
