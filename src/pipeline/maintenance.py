"""The cron (and the local server's timer): recover requests whose isolate died,
expire and prune ledger leases, reconcile the ledger with D1's record of spend,
remove image objects no row records, roll usage up."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from . import recovery, spend_reconciliation
from .clock import iso, utc_day
from .ledger_messages import ReleaseRequest, SettleRequest
from .queued import rekick
from .queued.economy import lifecycle as economy
from .logs import event as log_event
from .services import Services
from .storage import images, sweeps
from .storage.store import Store

RECOVERY_PATIENCE_S = 86_400  # how long a request whose objects cannot be read now waits for the next runs
ABANDONED = {"code": "abandoned", "message": "the worker handling this request stopped before it finished"}


async def sweep_stale_requests(s: Services, older_than_s: int | None = None) -> int:
    """Requests still pending/running long after their deadline belonged to an isolate
    that died, or to one that could not write D1 after a provider answered. One whose
    images reached R2 intact is finished from them (recovery.py): `succeeded`, charged
    exactly (a binding failing while it is read defers the request to the next run, for a
    day, rather than abandon paid images). Any other is marked failed and charged what it
    may have been billed: the attempts already recorded, plus, when it was `running`, its
    call in flight at the estimate (the provider may have finished it). Objects no image
    row records, written before a D1 row that never came, are removed."""
    store = Store(s.db, s.clock)
    if older_than_s is None:
        older_than_s = max(s.settings.stale_request_s, int(s.settings.request_timeout_s) + 60)
    cutoff = iso(s.clock.now() - timedelta(seconds=older_than_s))
    rows = await sweeps.stale_for_sweep(s.db, cutoff)
    swept = 0
    for row in rows:
        objects: recovery.Scan | None = None  # a pending request never called a provider: nothing to scan
        try:
            if row["status"] == "running":
                objects = await recovery.scan(s, row)
            recovered = objects is not None and await recovery.finish_from_objects(s, row, objects)
        except Exception as exc:  # noqa: BLE001 - R2, the ledger or D1 failing now: the next run tries again
            patient = row["updated_at"] > iso(s.clock.now() - timedelta(seconds=RECOVERY_PATIENCE_S))
            log_event(logging.ERROR, "recovery_deferred" if patient else "recovery_given_up", request_id=row["id"],
                      error=type(exc).__name__)
            if patient:
                continue
            objects, recovered = None, False  # a day of failures: abandoned as before, so no row stays open for ever
        present = objects.present if objects is not None else None
        if recovered:
            await remove_unrecorded_objects(s, row, present)  # any object that failed the check
            swept += 1
            continue
        charge = int(row["recorded"]) + (int(row["estimate"]) if row["status"] == "running" else 0)
        if not await store.finish_unsuccessfully(row["id"], status="failed", error=ABANDONED, actual_micros=charge):
            continue
        await remove_unrecorded_objects(s, row, present)
        if charge:
            answer = await s.ledger.settle(SettleRequest(row["id"], charge, caller=row["caller"], provider=row["provider"],
                                                         model=row["model"], note={"abandoned": True}))
            if answer.already_settled and answer.charged_micros != charge:
                # The request lived to settle (only D1 failed it): the ledger's charge is the exact one.
                await sweeps.set_actual_cost(s.db, row["id"], answer.charged_micros)
        else:
            await s.ledger.release(ReleaseRequest(row["id"], "abandoned"))
        swept += 1
    return swept


async def remove_unrecorded_objects(s: Services, row: dict[str, Any], present: list[str] | None = None) -> int:
    """Objects a request may have written before dying. Keys derive from the request id
    (storage/images.py), so no listing is needed; only keys no image row records go.
    `present`: the keys a scan of this request already found (recovery.scan), else each
    possible key is looked up."""
    recorded = await sweeps.recorded_keys(s.db, row["id"])
    if present is None:
        present = [key for _, key in images.possible_keys(row["id"], int(row["n"]), recovery.object_days(s, row))
                   if key not in recorded and await s.objects.get(key) is not None]
    removed = 0
    for key in present:
        if key not in recorded:
            await s.objects.delete(key)
            removed += 1
    return removed


async def recover_after_restart(s: Services) -> dict[str, Any]:
    """For a host whose requests all died with it (the local server after a crash):
    every non-terminal request is abandoned now, and every slot freed."""
    recover = getattr(s.ledger, "recover_after_restart", None)
    slots = await recover() if recover is not None else {}
    swept = total = await sweep_stale_requests(s, older_than_s=0)
    while swept == 100:  # a page at a time
        swept = await sweep_stale_requests(s, older_than_s=0)
        total += swept
    return {"stale_requests": total, **slots}


async def scheduled(s: Services, cron: str = "", scheduled_time_ms: int | None = None) -> dict[str, Any]:
    """Everything the cron trigger does; safe to run any number of times."""
    now = datetime.fromtimestamp(scheduled_time_ms / 1000, timezone.utc) if scheduled_time_ms else s.clock.now()
    store = Store(s.db, s.clock)
    swept = await sweep_stale_requests(s)
    rekicked = await economy.rekick(s) if s.queue is not None else 0  # provider batches whose message was lost
    batches = await rekick.rekick(s)  # batch items and jobs whose message was lost
    leases = await s.ledger.sweep()  # expiry, and pruning of closed rows past keep_days
    # Spend D1 recorded but the ledger never saw settled (a lost settle call) is charged now,
    # from where the last pass stopped (spend_reconciliation.py).
    reconciled = await spend_reconciliation.reconcile(s)
    days = [utc_day(now - timedelta(days=1)), utc_day(now)]  # yesterday too: late settles land there
    rolled = {day: await store.roll_up(day) for day in days}
    return {"cron": cron, "stale_requests": swept, "ledger": asdict(leases), "reconciled": reconciled["reconciled"],
            "reconcile_pass": reconciled,
            "rolled_up": rolled, "economy_rekicked": rekicked, "batches": batches}
