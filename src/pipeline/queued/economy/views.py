"""What callers see of the economy lane: a batch's provider batches, and spend per lane."""

from __future__ import annotations

import json
from typing import Any

from ...services import Services
from ...storage import economy_rows


async def provider_batches(s: Services, batch_id: str) -> list[dict[str, Any]]:
    """The provider batches of a batch: where each stands at the provider (for progress)."""
    return [
        {"id": pb["id"], "provider": pb["provider"], "model": pb["model"], "state": pb["state"],
         "provider_batch_id": pb["provider_batch_id"], "provider_status": pb["provider_status"],
         "counts": json.loads(pb["counts"]) if pb["counts"] else None, "polls": pb["polls"],
         "submitted_at": pb["submitted_at"], "next_poll_at": pb["next_poll_at"] if pb["state"] != "done" else None,
         "done_at": pb["done_at"], "error": json.loads(pb["error"]) if pb["error"] else None}
        for pb in await economy_rows.provider_batches(s.db, batch_id)
    ]


async def lanes(s: Services, day_from: str, day_to: str, ledger_days: list[dict[str, Any]]) -> dict[str, Any]:
    """Spend per lane over the days, and what the economy lane saved: the same usage at the
    standard price minus what it was charged. Standard spend is the ledger's spend less the
    economy lane's (both count against the day the money was reserved)."""
    economy = {r["day"]: r for r in await economy_rows.lane_totals(s.db, day_from, day_to)}
    spent = {d["day"]: int(d["totals"]["spent_micros"]) for d in ledger_days}
    days = []
    for day in sorted(set(economy) | set(spent)):
        e = economy.get(day) or {}
        e_spent, e_standard = int(e.get("spent_micros") or 0), int(e.get("standard_micros") or 0)
        days.append({"day": day,
                     "standard": {"spent_micros": max(0, spent.get(day, 0) - e_spent)},
                     "economy": {"requests": int(e.get("requests") or 0), "spent_micros": e_spent,
                                 "standard_price_micros": e_standard, "saved_micros": max(0, e_standard - e_spent),
                                 "open_micros": int(e.get("open_micros") or 0)}})
    totals = {
        "standard": {"spent_micros": sum(d["standard"]["spent_micros"] for d in days)},
        "economy": {k: sum(d["economy"][k] for d in days)
                    for k in ("requests", "spent_micros", "standard_price_micros", "saved_micros", "open_micros")},
    }
    return {"days": days, "totals": totals}
