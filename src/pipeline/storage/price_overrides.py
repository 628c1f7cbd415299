"""Price overrides in D1 (`price_overrides`, append-only: who, why, when; the newest row per
model is in force), read into each isolate's PriceBook (catalog/overrides.py)."""

from __future__ import annotations

import json
from typing import Any

from ..catalog.overrides import PriceBook, checked_rates
from ..ids import new_id
from ..ports import Clock, Database

_LATEST = """SELECT p.model, p.rates_json, p.reason, p.set_by, p.created_at FROM price_overrides p
 JOIN (SELECT model, MAX(id) AS id FROM price_overrides GROUP BY model) last ON last.id = p.id"""


async def refresh(book: PriceBook, db: Database, clock: Clock, *, force: bool = False) -> None:
    """Re-read the overrides in force when the book's copy is older than MAX_AGE_S (or `force`)."""
    now = clock.monotonic()
    if not force and not book.stale(now):
        return
    try:
        rows = await db.all(_LATEST)
    except Exception:  # noqa: BLE001 - a missing migration or a D1 hiccup must not stop generation
        rows = None
    book.load(rows, now)


async def set_override(db: Database, clock: Clock, book: PriceBook, model: str, rates: dict[str, Any] | None,
                       reason: str, set_by: str) -> dict[str, Any]:
    """Record an override (or, with `rates=None`, its removal) and apply it here at once."""
    spec = checked_rates(model, rates)
    now = clock.now().isoformat()
    await db.run(
        "INSERT INTO price_overrides (id, model, rates_json, reason, set_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (new_id("prc", clock.now()), model, json.dumps(rates) if rates is not None else None, reason, set_by, now),
    )
    await refresh(book, db, clock, force=True)
    return {"model": model, "price": book.price(spec).to_dict(), "catalog_price": spec.price.to_dict()}


async def history(db: Database, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    where, params = ("WHERE model = ?", [model]) if model else ("", [])
    rows = await db.all(f"SELECT id, model, rates_json, reason, set_by, created_at FROM price_overrides {where} "
                        "ORDER BY id DESC LIMIT ?", (*params, limit))
    return [{**r, "rates": json.loads(r.pop("rates_json")) if r.get("rates_json") else None} for r in rows]
