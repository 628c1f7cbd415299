"""Build the configured providers once, keep them, and watch their health.

Dispatch is by name through `FACTORIES`; adding a provider is one line here and
one module beside this one. A factory returns None when its provider is not
configured (no key), so only usable providers are ever listed."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..catalog.overrides import PriceBook
from . import gemini, imagen, openai, placeholder, workers_ai
from .base import ImageProvider, ProviderContext
from .shared import instances
from .shared.observations import BreakerView, CallDurations, Health, ModelHealth

Factory = Callable[[ProviderContext], "ImageProvider | None"]

# Order is the default auto-mode preference (selection.py may reorder from settings).
FACTORIES: dict[str, Factory] = {
    "gemini": gemini.build,
    "openai": openai.build,
    "imagen": imagen.build,
    "gemini-vertex": gemini.build_vertex,
    "workers-ai": workers_ai.build,
    "placeholder": placeholder.build,
}

class ProviderRegistry:
    def __init__(self, ctx: ProviderContext, factories: dict[str, Factory] | None = None) -> None:
        # One price book and one model-health view shared by every provider instance.
        self.prices = PriceBook()
        self.models = ModelHealth()
        ctx = replace(ctx, prices=self.prices, models=self.models)
        self.providers: dict[str, ImageProvider] = {}
        for name, factory in (factories or FACTORIES).items():
            provider = factory(ctx)
            if provider is not None:
                self.providers[name] = provider
        # Extra instances of a kind (PROVIDER_INSTANCES): own key, base URL, priority; same adapter.
        for inst in instances.parse(ctx.settings) if factories is None else []:
            provider = FACTORIES[inst.kind](replace(ctx, settings=inst.settings))
            if provider is not None and inst.name not in self.providers:
                provider.name, provider.priority = inst.name, inst.priority
                self.providers[inst.name] = provider
        self.health: dict[str, Health] = {name: Health() for name in self.providers}
        self.durations = CallDurations()  # successful calls per provider and model: estimated progress
        self.breakers = BreakerView()  # the ledger's breakers, as this isolate last heard of them

    def get(self, name: str) -> ImageProvider | None:
        return self.providers.get(name)

    def names(self) -> list[str]:
        return list(self.providers)

    def record(self, name: str, ok: bool, latency_ms: int, error_code: str | None = None) -> None:
        if name in self.health:
            self.health[name].record(ok, latency_ms, error_code)

    def real_configured(self) -> bool:
        """Is any provider that makes real images configured (not just the placeholder)?"""
        return any(not p.capabilities.simulated for p in self.providers.values())
