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

from .. import errors, webhooks
from ..clock import iso
from ..ids import new_id
from ..models import GenerationRequest
from ..services import Services
from ..storage import batches as rows
from ..storage.results import to_result
from ..logs import event as log_event
from ..storage.store import Store
from ..auth.keys import Principal
from . import admission
from .generation import Generation

MAX_ITEMS = 100  # one sendBatch (Cloudflare: at most 100 messages per call)
IN_PROGRESS_RETRY_S = (10, 30, 60, 120, 300)  # waits for a generation another delivery is running


def _log(event: str, **fields: Any) -> None:
    log_event(logging.INFO, event, **fields)


async def submit(
    s: Services, principal: Principal, items: list[GenerationRequest], *, kind: str, caller: str | None,
    webhook_url: str | None,
) -> str:
    """Store the batch and its items, enqueue one message per item; return the id. Each item is
    admitted for the principal now (scope, caller); the consumer admits it again when it runs,
    as the same key (admission.py)."""
    items = [admission.admitted_request(principal, item) for item in items]
    if s.queue is None:
        raise errors.QueueUnavailable("no JOBS queue is configured for batches and async jobs")
    if webhook_url and not s.settings.webhook_secret:
        raise errors.InvalidRequest("webhooks need the WEBHOOK_SECRET secret to sign them", details={"field": "webhook_url"})
    batch_id = new_id("job" if kind == "job" else "bat", s.clock.now())
    bodies = [
        # Each item's own key, else one derived from its place: a redelivery replays, never pays twice.
        item.model_dump(mode="json", exclude_none=True) | {"idempotency_key": item.idempotency_key or f"{batch_id}.{i}"}
        for i, item in enumerate(items)
    ]
    now = iso(s.clock.now())
    await rows.create(s.db, batch_id, kind=kind, caller=caller or s.settings.default_caller, bodies=bodies,
                      webhook_url=webhook_url, now=now, api_key_id=principal.key_id)
    try:
        await s.queue.send_batch([{"type": "item", "batch_id": batch_id, "idx": i, "key_id": principal.key_id}
                                  for i in range(len(bodies))])
    except Exception as exc:  # noqa: BLE001 - whatever the binding raised, nothing was enqueued
        error = {"code": "queue_unavailable", "message": f"the queue refused the items ({type(exc).__name__})"}
        await rows.fail_queued(s.db, batch_id, error, now)
        await rows.try_complete(s.db, batch_id, now)
        raise errors.QueueUnavailable(error["message"], details={"batch_id": batch_id}) from exc
    _log("batch_submitted", batch_id=batch_id, items=len(bodies))
    return batch_id


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
            status = row["status"] if row and row["status"] in rows.TERMINAL else "failed"
            error = exc.to_dict()
        await rows.finish_item(s.db, batch_id, idx, status=status, request_id=request_id, error=error,
                               now=iso(s.clock.now()))
        _log("batch_item_done", batch_id=batch_id, idx=idx, status=status, deliveries=attempts)
    await finish_batch(s, batch_id)  # also after a redelivery: the crash may have come just before
    return None


HANDLERS: dict[str, Callable[[Services, dict[str, Any], int], Awaitable[float | None]]] = {"item": run_item}


async def _still_running(s: Services, generation: Generation) -> bool:
    """Did the idempotency key lead to a generation that is not finished yet?"""
    key = generation.req.idempotency_key
    found = await Store(s.db, s.clock).find_by_idempotency_key(generation.caller, key) if key else None
    return found is not None and found["status"] in ("pending", "running")


async def finish_batch(s: Services, batch_id: str) -> None:
    """When the last item ends: the batch is completed, and its webhook called (once)."""
    if not await rows.try_complete(s.db, batch_id, iso(s.clock.now())):
        return
    batch = await rows.get(s.db, batch_id)
    _log("batch_completed", batch_id=batch_id)
    if batch is None or not batch["webhook_url"] or not s.settings.webhook_secret:
        return
    view = await batch_view(s, batch_id)
    delivery = await webhooks.deliver(
        s.http, s.clock, batch["webhook_url"], {"type": f"{batch['kind']}.completed", "data": view},
        secret=s.settings.webhook_secret, event_id=f"{batch_id}.completed",
        max_attempts=s.settings.webhook_max_attempts, base_delay_s=s.settings.webhook_retry_base_s,
    )
    await rows.record_webhook(s.db, batch_id, delivered=delivery.delivered, attempts=delivery.attempts,
                              now=iso(s.clock.now()))


# --- views --------------------------------------------------------------------


async def batch_view(s: Services, batch_id: str) -> dict[str, Any]:
    batch = await rows.get(s.db, batch_id)
    if batch is None:
        raise errors.NotFound(f"no batch {batch_id!r}")
    items = await rows.items(s.db, batch_id)
    done = [i["request_id"] for i in items if i["request_id"] and i["status"] in rows.TERMINAL]
    results = {r["id"]: to_result(r, s.settings.public_base_url) for r in await Store(s.db, s.clock).get_requests(done)}
    counts: dict[str, int] = {}
    for i in items:
        counts[i["status"]] = counts.get(i["status"], 0) + 1
    return {
        "id": batch["id"], "kind": batch["kind"], "status": batch["status"], "caller": batch["caller"],
        "total": batch["total"], "counts": counts,
        "items": [
            {"index": i["idx"], "status": i["status"], "request_id": i["request_id"], "deliveries": i["deliveries"],
             "error": json.loads(i["error"]) if i["error"] else None, "result": results.get(i["request_id"] or "")}
            for i in items
        ],
        "webhook": {"url_set": bool(batch["webhook_url"]), "status": batch["webhook_status"],
                    "attempts": batch["webhook_attempts"]},
        "created_at": batch["created_at"], "completed_at": batch["completed_at"],
    }


def job_view(view: dict[str, Any]) -> dict[str, Any]:
    """An async job is a batch of one: shown as that one generation."""
    item = view["items"][0]
    return {"id": view["id"], "status": item["status"], "request_id": item["request_id"], "result": item["result"],
            "error": item["error"], "webhook": view["webhook"], "created_at": view["created_at"],
            "completed_at": view["completed_at"]}
