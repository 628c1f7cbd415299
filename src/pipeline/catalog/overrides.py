"""Run-time price overrides: an admin changes a model's rates without a deploy.

Every change is recorded in D1 (`price_overrides`, append-only: who, why, when);
the newest row per model is in force. Each isolate keeps the effective
overrides in a `PriceBook` and re-reads them at most every `MAX_AGE_S`, so a
change reaches every isolate within that time (at once in the isolate that made it)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..errors import InvalidRequest, NotFound
from ..ids import new_id
from ..ports import Clock, Database
from . import find
from .spec import ModelSpec, Price

MAX_AGE_S = 30.0

_LATEST = """SELECT p.model, p.rates_json, p.reason, p.set_by, p.created_at FROM price_overrides p
 JOIN (SELECT model, MAX(id) AS id FROM price_overrides GROUP BY model) last ON last.id = p.id"""


class PriceBook:
    """The effective price of each model: the catalog's, or the override in force."""

    def __init__(self) -> None:
        self.overrides: dict[str, dict[str, Any]] = {}
        self._loaded_at: float | None = None

    def price(self, spec: ModelSpec) -> Price:
        o = self.overrides.get(spec.id)
        if o is None:
            return spec.price
        return replace(spec.price, rates={**spec.price.rates, **o["rates"]},
                       source=f"override by {o['set_by']} at {o['created_at']}: {o['reason']}",
                       checked=o["created_at"][:10])

    def rates(self, spec: ModelSpec) -> dict[str, int]:
        return dict(self.price(spec).rates)

    async def refresh(self, db: Database, clock: Clock, *, force: bool = False) -> None:
        now = clock.monotonic()
        if not force and self._loaded_at is not None and now - self._loaded_at < MAX_AGE_S:
            return
        try:
            rows = await db.all(_LATEST)
        except Exception:  # noqa: BLE001 - a missing migration or a D1 hiccup must not stop generation
            self._loaded_at = now  # keep the prices in force; try again after MAX_AGE_S
            return
        self.overrides = {
            r["model"]: {"rates": json.loads(r["rates_json"]), "reason": r["reason"], "set_by": r["set_by"],
                         "created_at": r["created_at"]}
            for r in rows if r["rates_json"]
        }
        self._loaded_at = now


async def set_override(db: Database, clock: Clock, book: PriceBook, model: str, rates: dict[str, Any] | None,
                       reason: str, set_by: str) -> dict[str, Any]:
    """Record an override (or, with `rates=None`, its removal) and apply it here at once."""
    spec = find(model)
    if spec is None:
        raise NotFound(f"no model {model!r} in the catalog", details={"field": "model"})
    if rates is not None:
        unknown = sorted(set(rates) - set(spec.price.rates))
        if unknown or not rates:
            raise InvalidRequest(f"{model} is billed by {', '.join(sorted(spec.price.rates)) or 'nothing'}; "
                                 f"cannot set {', '.join(unknown) or 'no rate'}", details={"field": "rates"})
        bad = [k for k, v in rates.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
        if bad:
            raise InvalidRequest("rates are whole micro-dollars (>= 0)", details={"field": "rates", "keys": bad})
    now = clock.now().isoformat()
    await db.run(
        "INSERT INTO price_overrides (id, model, rates_json, reason, set_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (new_id("prc", clock.now()), model, json.dumps(rates) if rates is not None else None, reason, set_by, now),
    )
    await book.refresh(db, clock, force=True)
    return {"model": model, "price": book.price(spec).to_dict(), "catalog_price": spec.price.to_dict()}


async def history(db: Database, model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    where, params = ("WHERE model = ?", [model]) if model else ("", [])
    rows = await db.all(f"SELECT id, model, rates_json, reason, set_by, created_at FROM price_overrides {where} "
                        "ORDER BY id DESC LIMIT ?", (*params, limit))
    return [{**r, "rates": json.loads(r.pop("rates_json")) if r.get("rates_json") else None} for r in rows]
