"""The cron's safety net for batches and jobs: work whose message is gone is sent again.

A standard-lane item is finished by its queue message. The message can be lost: the
consumer's D1 stayed down through every redelivery and the queue dead-lettered it, or
the submission's batch row landed while its answer (and so the send) was lost. Such an
item stays `queued` or `running`, and its batch open, for good. The cron finds batches
open past `OVERDUE_S` and, for each:
- sends every unfinished standard item its message again (the consumer is idempotent:
  the item's key replays the stored generation, or makes a new attempt after a failure
  that a retry may cure; never a second charge for one provider call);
- after `GIVE_UP_S` since the batch was created, ends such items `failed` (`abandoned`)
  instead, or with their generation's own status when it is terminal;
- completes the batch once every item is terminal (and calls its webhook);
and calls the webhook of a batch completed past `OVERDUE_S` whose delivery never ran.
Economy items have their own safety net (economy/lifecycle.py `rekick`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from ..clock import iso
from ..logs import event as log_event
from ..services import Services
from ..storage import batches as batch_rows
from ..storage.store import Store
from .completion import deliver_webhook, finish_batch

OVERDUE_S = 3600  # past the queue's whole redelivery schedule (max_retries 10 at 10 s .. 300 s: ~35 min)
GIVE_UP_S = 24 * 3600
ABANDONED = {"code": "abandoned", "message": "the queue lost this item's message and it could not be finished"}
PAGE = 50


async def rekick(s: Services, overdue_s: int = OVERDUE_S) -> dict[str, int]:
    """Send again what a lost message left unfinished; complete what is done. Counts."""
    now = s.clock.now()
    cutoff = iso(now - timedelta(seconds=overdue_s))
    counts = {"resent": 0, "abandoned": 0, "completed": 0, "webhooks": 0}
    for batch in await batch_rows.overdue(s.db, cutoff, PAGE):
        give_up = batch["created_at"] <= iso(now - timedelta(seconds=GIVE_UP_S))
        resend = []
        for item in await batch_rows.unfinished_standard_items(s.db, batch["id"]):
            if give_up:
                counts["abandoned"] += await _abandon(s, batch["id"], item)
            elif s.queue is not None:
                resend.append({"type": "item", "batch_id": batch["id"], "idx": item["idx"], "key_id": batch["api_key_id"]})
        if resend and s.queue is not None:  # one call, as submission sends them (at most MAX_ITEMS a batch)
            await s.queue.send_batch(resend)
            counts["resent"] += len(resend)
        await batch_rows.touch(s.db, batch["id"], iso(now))  # the next look comes an overdue later
        counts["completed"] += await finish_batch(s, batch["id"])
    for batch in await batch_rows.webhooks_due(s.db, cutoff, PAGE):
        if s.settings.webhook_secret:
            await deliver_webhook(s, batch)
            counts["webhooks"] += 1
    if any(counts.values()):
        log_event(logging.WARNING, "batches_rekicked", **counts)
    return counts


async def _abandon(s: Services, batch_id: str, item: dict[str, Any]) -> int:
    """End an item given up on: its generation's outcome if that is terminal, else failed."""
    row = await Store(s.db, s.clock).get_request(item["request_id"]) if item["request_id"] else None
    status = row["status"] if row and row["status"] in batch_rows.TERMINAL else "failed"
    error = None if status == "succeeded" else ABANDONED
    done = await batch_rows.finish_item(s.db, batch_id, item["idx"], status=status, request_id=item["request_id"],
                                  error=error, now=iso(s.clock.now()))
    return int(done)
