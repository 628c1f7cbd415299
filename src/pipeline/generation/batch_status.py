"""A batch's (or job's) view, and its completion: when the last item ends, the batch is
completed and its webhook called once. Both lanes call it (generation/batches.py for
standard items, economy/lifecycle.py for provider-batch results)."""

from __future__ import annotations

import json
import logging
from typing import Any

from .. import errors, webhooks
from ..clock import iso
from ..economy import views as economy_views
from ..logs import event as log_event
from ..services import Services
from ..storage import batches as rows
from ..storage.results import to_result
from ..storage.store import Store


def _log(event: str, **fields: Any) -> None:
    log_event(logging.INFO, event, **fields)


async def finish_batch(s: Services, batch_id: str) -> bool:
    """When the last item ends: the batch is completed, and its webhook called (once).
    True for the one call that completed it."""
    if not await rows.try_complete(s.db, batch_id, iso(s.clock.now())):
        return False
    batch = await rows.get(s.db, batch_id)
    _log("batch_completed", batch_id=batch_id)
    if batch is not None:
        await deliver_webhook(s, batch)
    return True


async def deliver_webhook(s: Services, batch: dict[str, Any]) -> None:
    """Call a completed batch's webhook (if it has one) and record how that went. A failure
    before the record is caught up by the cron (batch_recovery.py); the event id lets a
    receiver drop the rare repeat."""
    if not batch["webhook_url"] or not s.settings.webhook_secret:
        return
    batch_id = batch["id"]
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
             "error": json.loads(i["error"]) if i["error"] else None, "result": results.get(i["request_id"] or ""),
             "lane": i["lane"], "warnings": json.loads(i["warnings"]) if i["warnings"] else []}
            for i in items
        ],
        "lane": batch["lane"],
        "provider_batches": await economy_views.provider_batches(s, batch_id),
        # delivered or failed, nothing more: how a receiver failed is in the logs, not for the caller
        "webhook": {"url_set": bool(batch["webhook_url"]), "status": batch["webhook_status"]},
        "created_at": batch["created_at"], "completed_at": batch["completed_at"],
    }


def job_view(view: dict[str, Any]) -> dict[str, Any]:
    """An async job is a batch of one: shown as that one generation."""
    item = view["items"][0]
    return {"id": view["id"], "status": item["status"], "request_id": item["request_id"], "result": item["result"],
            "error": item["error"], "lane": item["lane"], "warnings": item["warnings"],
            "provider_batches": view["provider_batches"], "webhook": view["webhook"], "created_at": view["created_at"],
            "completed_at": view["completed_at"]}
