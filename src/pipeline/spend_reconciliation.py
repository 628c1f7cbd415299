"""Reconciling the ledger with D1's record of spend, from where the last pass stopped.

A settle whose call never landed leaves the ledger short of what D1 recorded, and the
budget would then let more through than it should. Each cron run sends the ledger the
spend D1 recorded since its last pass; settling is idempotent, so requests settled
normally are left alone (ledger/core.py `reconcile`).

The pass keeps a cursor in D1 (`maintenance_cursors`): after an outage of the cron, or an
hour busier than one run can read, the next run goes on from the last row it passed, in
pages, never from a fixed window that a long outage would leave behind. It looks back at
most two days (what today's and yesterday's budgets count) and never as far as the
ledger's `keep_days`: a reservation pruned there must not be charged twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .clock import iso
from .ledger_messages import SettleRequest
from .services import Services
from .storage import sweeps

CURSOR = "reconcile_spend"
PAGE_ROWS = 500
MAX_PAGES = 20  # 10,000 rows a run; more waits for the next run (the cursor keeps its place)
OVERLAP_S = 120  # a finished pass restarts this far back: a write stamped before the pass, committed after it
MAX_LOOKBACK_S = 2 * 86_400
PRUNE_MARGIN_S = 3_600


async def reconcile(s: Services, page_rows: int = PAGE_ROWS, max_pages: int = MAX_PAGES) -> dict[str, Any]:
    """One pass: every costed, finished request since the cursor, to the ledger in pages."""
    now = s.clock.now()
    keep_days = int((await s.ledger.get_config()).get("keep_days", 35))
    floor = now - timedelta(seconds=min(MAX_LOOKBACK_S, keep_days * 86_400 - PRUNE_MARGIN_S))
    saved = await sweeps.cursor(s.db, CURSOR)
    position, after_id = (saved["position"], saved["after_id"]) if saved else (iso(floor), "")
    if position < iso(floor):
        position, after_id = iso(floor), ""
    reconciled = read = 0
    finished = False
    for _ in range(max_pages):
        rows = await sweeps.costed_since(s.db, position, after_id, page_rows)
        if rows:
            answer = await s.ledger.reconcile([SettleRequest(**{k: v for k, v in r.items() if k != "updated_at"}) for r in rows])
            reconciled += answer.reconciled
            read += len(rows)
            position, after_id = rows[-1]["updated_at"], rows[-1]["request_id"]
        if len(rows) < page_rows:
            finished = True
            break
    if finished:  # caught up to now: the next pass starts a little before it
        position, after_id = iso(now - timedelta(seconds=OVERLAP_S)), ""
    await sweeps.save_cursor(s.db, CURSOR, position, after_id, iso(now))
    return {"reconciled": reconciled, "read": read, "caught_up": finished, "through": position}
