"""The cron: recover requests whose isolate died, expire ledger leases, reconcile
the ledger with D1's record of spend, roll usage up."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from .clock import utc_day
from .services import Services
from .storage.store import Store


async def sweep_stale_requests(s: Services) -> int:
    """Requests still pending/running long after their deadline belonged to an
    isolate that died: mark them failed and free their reservation now."""
    store = Store(s.db, s.clock)
    older_than = max(s.settings.stale_request_s, int(s.settings.request_timeout_s) + 60)
    swept = 0
    for row in await store.stale_requests(older_than):
        error = {"code": "abandoned", "message": "the worker handling this request stopped before it finished"}
        if await store.finish_unsuccessfully(row["id"], status="failed", error=error):
            await s.ledger.release(row["id"], "abandoned")
            swept += 1
    return swept


async def scheduled(s: Services, cron: str = "", scheduled_time_ms: int | None = None) -> dict[str, Any]:
    """Everything the cron trigger does; safe to run any number of times."""
    now = datetime.fromtimestamp(scheduled_time_ms / 1000, timezone.utc) if scheduled_time_ms else s.clock.now()
    store = Store(s.db, s.clock)
    swept = await sweep_stale_requests(s)
    leases = await s.ledger.sweep()
    # Spend D1 recorded but the ledger never saw settled (a lost settle call) is charged now;
    # settling is idempotent, so requests settled normally are left alone.
    reconciled = await s.ledger.reconcile(await store.recent_spend(within_s=2 * 3600))
    days = [utc_day(now - timedelta(days=1)), utc_day(now)]  # yesterday too: late settles land there
    rolled = {day: await store.roll_up(day) for day in days}
    return {"cron": cron, "stale_requests": swept, "ledger": leases, "reconciled": reconciled["reconciled"],
            "rolled_up": rolled}
