"""Usage reports over the ledger's rows (reporting only: never on the reserve path)."""

from __future__ import annotations

from typing import Any

from .schema import SqlStorage

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
