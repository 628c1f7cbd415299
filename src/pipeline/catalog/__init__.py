"""Models and prices as data: one module per provider kind (openai, gemini,
imagen, workers_ai), the shapes in spec.py, lifecycle and lookup here, run-time
price overrides in overrides.py. Nothing else names a model id or a price."""

from __future__ import annotations

from datetime import date

from ..errors import ModelUnavailable
from . import gemini, imagen, openai, workers_ai
from .spec import Lifecycle, ModelSpec, Price, ProviderCatalog, SizeRule

CATALOGS: dict[str, ProviderCatalog] = {c.kind: c for c in (openai.CATALOG, gemini.CATALOG, imagen.CATALOG, workers_ai.CATALOG)}
# Vertex serves the same Gemini models with the same parameters and prices.
CATALOGS["gemini-vertex"] = gemini.CATALOG

PRICES_AS_OF = max(m.price.checked for c in CATALOGS.values() for m in c.models)

__all__ = ["CATALOGS", "Lifecycle", "ModelSpec", "Price", "ProviderCatalog", "SizeRule", "find", "usable_ids",
           "ensure_usable", "default_model", "PRICES_AS_OF"]


def find(model_id: str) -> ModelSpec | None:
    for catalog in CATALOGS.values():
        spec = catalog.get(model_id)
        if spec is not None:
            return spec
    return None


def usable_ids(catalog: ProviderCatalog, day: date) -> tuple[str, ...]:
    return tuple(m.id for m in catalog.models if m.status_on(day) != "shut_down")


def ensure_usable(spec: ModelSpec, day: date, provider: str | None = None) -> None:
    """Raise ModelUnavailable, naming the replacement, when the model is shut down on `day`."""
    if spec.status_on(day) != "shut_down":
        return
    life = spec.lifecycle
    when = f" on {life.shutdown}" if life.shutdown else ""
    instead = f"; use {life.replacement} instead" if life.replacement else ""
    raise ModelUnavailable(f"model {spec.id} was shut down{when}{instead}", provider=provider,
                           details={"model": spec.id, "shutdown_date": life.shutdown, "replacement": life.replacement,
                                    "field": "model"})


def default_model(catalog: ProviderCatalog, day: date, tier: str = "cost", skip: frozenset[str] = frozenset()) -> str | None:
    """The tier's default; once that is shut down on `day`, the catalog's replacement chain
    decides (each model names its successor); else the first usable model (preference order).
    Models shut down on `day` or in `skip` (marked unavailable) are never chosen."""
    ok = [m for m in usable_ids(catalog, day) if m not in skip]
    preferred = catalog.defaults.get(tier) or catalog.defaults.get("cost")
    seen: set[str] = set()
    while preferred and preferred not in seen:
        if preferred in ok:
            return preferred
        seen.add(preferred)
        spec = catalog.get(preferred)
        preferred = spec.lifecycle.replacement if spec else None
    return ok[0] if ok else None
