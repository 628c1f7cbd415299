"""Run-time price overrides: an admin changes a model's rates without a deploy.

Every change is recorded in D1 (`price_overrides`, append-only: who, why, when);
the newest row per model is in force (storage/price_overrides.py). Each isolate keeps the effective
overrides in a `PriceBook` and re-reads them at most every `MAX_AGE_S`, so a
change reaches every isolate within that time (at once in the isolate that made it)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from ..errors import InvalidRequest, NotFound
from . import find
from .spec import ModelSpec, Price

MAX_AGE_S = 30.0

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

    def stale(self, now: float) -> bool:
        """Whether the overrides are older than MAX_AGE_S (or were never read) at monotonic `now`."""
        return self._loaded_at is None or now - self._loaded_at >= MAX_AGE_S

    def load(self, rows: list[dict[str, Any]] | None, now: float) -> None:
        """The newest override row per model (storage/price_overrides.py); None when they could
        not be read: the prices in force are kept, and read again after MAX_AGE_S."""
        if rows is not None:
            self.overrides = {
                r["model"]: {"rates": json.loads(r["rates_json"]), "reason": r["reason"], "set_by": r["set_by"],
                             "created_at": r["created_at"]}
                for r in rows if r["rates_json"]
            }
        self._loaded_at = now


def checked_rates(model: str, rates: dict[str, Any] | None) -> ModelSpec:
    """The catalog model an override (or, with `rates=None`, its removal) is for; raises
    NotFound or InvalidRequest when the model or the rates are not ones it is billed by."""
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
    return spec
