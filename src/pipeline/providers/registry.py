"""Build the configured providers once, keep them, and watch their health.

Dispatch is by name through `FACTORIES`; adding a provider is one line here and
one module beside this one. A factory returns None when its provider is not
configured (no key), so only usable providers are ever listed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..catalog.overrides import PriceBook
from . import gemini, imagen, instances, openai, placeholder, workers_ai
from .base import ImageProvider, ProviderContext
from .durations import CallDurations
from .model_health import ModelHealth

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

_WINDOW = 20  # recent calls kept per provider for the passive health view


@dataclass
class Health:
    """Passive view: outcomes and latencies of the last calls made by this isolate."""

    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    latencies_ms: deque[int] = field(default_factory=lambda: deque(maxlen=_WINDOW))
    consecutive_failures: int = 0
    last_error: str | None = None

    def record(self, ok: bool, latency_ms: int, error_code: str | None = None) -> None:
        self.outcomes.append(ok)
        self.latencies_ms.append(latency_ms)
        self.consecutive_failures = 0 if ok else self.consecutive_failures + 1
        if not ok:
            self.last_error = error_code

    @property
    def degraded(self) -> bool:
        """Three failures in a row: push this provider to the end of auto chains."""
        return self.consecutive_failures >= 3

    def to_dict(self) -> dict[str, Any]:
        n = len(self.outcomes)
        lat = sorted(self.latencies_ms)
        return {
            "recent_calls": n,
            "error_rate": round(1 - sum(self.outcomes) / n, 3) if n else None,
            "p50_latency_ms": lat[n // 2] if n else None,
            "max_latency_ms": lat[-1] if n else None,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "degraded": self.degraded,
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
