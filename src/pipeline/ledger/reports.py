"""Usage reports over the ledger's rows (reporting only: never on the reserve path)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .schema import GLOBAL, SqlStorage

_FIELDS = ("requests", "images", "reserved_micros", "spent_micros", "open_micros", "refused")


def usage(sql: SqlStorage, day_from: str, day_to: str) -> dict[str, Any]:
    rows = sql.exec(
        "SELECT day, provider, model, COUNT(*) AS requests,"
        " SUM(CASE WHEN state = 'settled' THEN images ELSE 0 END) AS images,"
        " SUM(reserved_micros) AS reserved_micros,"
        " SUM(CASE WHEN state = 'settled' THEN charged_micros ELSE 0 END) AS spent_micros,"
        " SUM(CASE WHEN state = 'reserved' THEN reserved_micros ELSE 0 END) AS open_micros"
        " FROM reservations WHERE day BETWEEN ? AND ? GROUP BY day, provider, model ORDER BY day, provider, model",
        day_from, day_to,
    )
    refused = sql.exec(
        "SELECT day, provider, model, COUNT(*) AS refused FROM refusals WHERE day BETWEEN ? AND ?"
        " GROUP BY day, provider, model",
        day_from, day_to,
    )
    days: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for r in rows:
        days.setdefault(r["day"], {})[(r["provider"], r["model"])] = {
            "provider": r["provider"], "model": r["model"], **{k: int(r.get(k) or 0) for k in _FIELDS}}
    for r in refused:
        entry = days.setdefault(r["day"], {}).setdefault(
            (r["provider"], r["model"]), {"provider": r["provider"], "model": r["model"], **{k: 0 for k in _FIELDS}})
        entry["refused"] = int(r["refused"])
    out_days = []
    for day in sorted(days):
        providers = list(days[day].values())
        totals = {k: sum(p[k] for p in providers) for k in ("requests", "images", "reserved_micros", "spent_micros", "refused")}
        out_days.append({"day": day, "providers": providers, "totals": totals})
    return {"days": out_days}


def budget_status(core: Any, now_ms: int) -> dict[str, Any]:
    """Today's spend, holds and slots, globally, per caller and per API key (the core's own reads)."""
    cfg = core.config()
    day = datetime.fromtimestamp(now_ms / 1000, timezone.utc).strftime("%Y-%m-%d")
    spent, reserved = core._held(day)
    callers = {}
    seen = [r["caller"] for r in core.sql.exec(
        "SELECT caller FROM day_totals WHERE day = ? AND caller != ?", day, GLOBAL)]
    for caller in sorted(set(seen) | set(cfg["caller_daily_budget_micros"] or {})):
        c_spent, c_reserved = core._held(day, caller)
        budget = core._caller_budget(cfg, caller)
        callers[caller] = {"budget_micros": budget, "spent_micros": c_spent, "reserved_micros": c_reserved,
                           "remaining_micros": None if budget is None else max(0, budget - c_spent - c_reserved)}
    keys = {r["key_id"]: {"spent_micros": int(r["spent_micros"]), "reserved_micros": int(r["reserved_micros"])}
            for r in core.sql.exec("SELECT key_id, spent_micros, reserved_micros FROM key_day_totals WHERE day = ?", day)}
    return {
        "day": day,
        "daily_budget_micros": cfg["daily_budget_micros"],
        "spent_today_micros": spent,
        "reserved_now_micros": int(core.sql.exec(
            "SELECT COALESCE(SUM(reserved_micros), 0) AS n FROM reservations WHERE state = 'reserved'")[0]["n"]),
        "remaining_micros": max(0, cfg["daily_budget_micros"] - spent - reserved),
        "slots_in_use": int(core.sql.exec("SELECT COUNT(*) AS n FROM slots")[0]["n"]),
        "callers": callers,
        "keys": keys,  # API keys with spend or holds today (their budgets are on the keys: /v1/keys)
    }
