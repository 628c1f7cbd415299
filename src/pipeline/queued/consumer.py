"""The queue consumer of batches and async jobs: each item through the same `Generation`
(economy-lane messages to economy/lifecycle.py), then the batch's completion (completion.py).

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
from ..models import GenerationRequest
from ..services import Services
from ..storage import batches as batch_rows
from ..logs import event as log_event
from ..storage.store import Store
from ..generation import admission
from ..generation.generation import Generation
from .economy import lifecycle as economy
from .completion import finish_batch

IN_PROGRESS_RETRY_S = (10, 30, 60, 120, 300)  # waits for a generation another delivery is running


def _log(event: str, **fields: Any) -> None:
    log_event(logging.INFO, event, **fields)


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
    item = await batch_rows.item(s.db, batch_id, idx)
    if item is None:
        return None
    if item["status"] not in batch_rows.TERMINAL:
        req = GenerationRequest.model_validate(json.loads(item["body"]))
        try:  # the key recorded with the batch in D1 (the message's copy is for logs only)
            principal = await admission.queued_principal(s, item["api_key_id"], req.caller or s.settings.default_caller)
        except errors.ImageWorkerError as exc:
            await batch_rows.finish_item(s.db, batch_id, idx, status="refused", request_id=None, error=exc.to_dict(),
                                   now=iso(s.clock.now()))
            _log("batch_item_done", batch_id=batch_id, idx=idx, status="refused", reason=exc.code)
            await finish_batch(s, batch_id)
            return None
        generation = admission.admit(s, principal, req)
        await batch_rows.start_item(s.db, batch_id, idx, generation.request_id, iso(s.clock.now()))
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
            status = row["status"] if row and row["status"] in batch_rows.TERMINAL else "failed"
            error = exc.to_dict()
        await batch_rows.finish_item(s.db, batch_id, idx, status=status, request_id=request_id, error=error,
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
    return row is None or row["status"] not in batch_rows.TERMINAL or not row["actual_cost_micros"]


async def _still_running(s: Services, generation: Generation) -> bool:
    """Did the idempotency key lead to a generation that is not finished yet?"""
    key = generation.req.idempotency_key
    found = await Store(s.db, s.clock).find_by_idempotency_key(generation.caller, key) if key else None
    return found is not None and found["status"] in ("pending", "running")
