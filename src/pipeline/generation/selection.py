"""Which providers serve a request, in which order.

explicit (`provider` in the request, else DEFAULT_PROVIDER) → auto (the
configured preference order, filtered by what the request needs) → fallback
chain. A provider that cannot do what is needed (an edit, a mask, a
transparent background) is skipped in auto mode, and refused when named
explicitly. Degraded providers (recent consecutive failures) go last; a provider
whose shared breaker is open (ledger/breaker.py) is skipped, the plan saying why. The
placeholder only ever serves auto mode when no real provider is configured,
so production never falls back to a fake image."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import BudgetExceeded, InvalidRequest, ProviderCircuitOpen, UnsupportedByProvider
from ..models import GenerationRequest
from ..providers.base import CostEstimate, ImageProvider, InputImage, ProviderRequest
from ..providers.registry import ProviderRegistry
from ..settings import Settings
from .prepare import prepare


@dataclass(frozen=True)
class Candidate:
    provider: ImageProvider
    preq: ProviderRequest
    estimate: CostEstimate

    @property
    def name(self) -> str:
        return self.provider.name


@dataclass(frozen=True)
class Plan:
    candidates: list[Candidate]
    skipped: dict[str, str]  # provider -> why it cannot serve
    auto: bool

    @property
    def primary(self) -> Candidate:
        return self.candidates[0]

    @property
    def reserve_micros(self) -> int:
        """What the first attempt holds: each provider attempt reserves its own estimate
        (a fallback re-reserves the difference), not the chain's maximum up front."""
        return self.primary.estimate.cost_micros


def _needs_unmet(provider: ImageProvider, req: GenerationRequest) -> str | None:
    caps = provider.capabilities
    if req.is_edit and not caps.edit:
        return "cannot edit images"
    if req.mask is not None and not caps.mask:
        return "cannot edit with a mask"
    if req.background == "transparent" and not caps.transparent_background:
        return "cannot make transparent backgrounds"
    if req.model is not None and req.model not in caps.models:
        return f"has no model {req.model}"
    if len(req.references) > caps.max_references:
        return (f"takes at most {caps.max_references} reference images" if caps.max_references
                else "takes no reference images")
    return None


def _candidate(
    provider: ImageProvider, req: GenerationRequest, images: tuple[InputImage, ...], mask: InputImage | None,
    partial_images: int = 0, references: tuple[InputImage, ...] = (),
) -> Candidate:
    """Priced after every option that changes the bill is decided (partial images included)."""
    preq = prepare(provider, req, images, mask, references)
    if partial_images and provider.capabilities.native_streaming:
        preq = replace(preq, partial_images=partial_images)
    return Candidate(provider, preq, provider.estimate(preq))


def auto_order(registry: ProviderRegistry, settings: Settings) -> list[str]:
    """Configured providers in auto-mode order: AUTO_PROVIDER_ORDER ranks them 0, 10, 20, …;
    an instance's `priority` (PROVIDER_INSTANCES) slots it among them; unlisted ones follow."""
    listed = [n for n in settings.auto_order if registry.get(n) is not None]
    names = listed + [n for n in registry.names() if n not in listed]
    if registry.real_configured():
        names = [n for n in names if not registry.providers[n].capabilities.simulated]

    def rank(n: str) -> int:
        priority = registry.providers[n].priority
        if priority is not None:
            return priority
        return listed.index(n) * 10 if n in listed else 1000 + names.index(n)

    # stable: healthy providers keep their order, degraded ones move to the end
    return sorted(names, key=lambda n: (registry.health[n].degraded, rank(n)))


def plan(
    registry: ProviderRegistry,
    settings: Settings,
    req: GenerationRequest,
    images: tuple[InputImage, ...] = (),
    mask: InputImage | None = None,
    partial_images: int = 0,
    now: float | None = None,
    references: tuple[InputImage, ...] = (),
) -> Plan:
    """The ordered candidates for this request, each already normalised and priced. With
    `now` (monotonic seconds), providers whose breaker this isolate knows to be open are
    skipped (auto, fallbacks) or refused at once (named, unless `try_open_provider`)."""
    explicit = req.provider if not req.wants_auto else settings.default_provider
    skipped: dict[str, str] = {}
    candidates: list[Candidate] = []
    cap = req.max_cost_per_image_micros
    over_cap: list[str] = []
    open_waits: list[float] = []  # seconds until each skipped open provider is tried again

    def keep(c: Candidate) -> None:
        blocked = None if now is None or req.try_open_provider else registry.breakers.blocked(c.name, c.preq.model, now)
        if blocked is not None and not auto and c.name == explicit and not allow_fallback:
            raise ProviderCircuitOpen(
                f"{c.name} ({c.preq.model}) is failing for every caller ({blocked.failures} of {blocked.calls} recent "
                f"calls failed); it is tried again after Retry-After, or send try_open_provider: true",
                provider=c.name, retry_after_s=round(registry.breakers.wait_s(blocked, now), 1),
                details={"state": blocked.state, "model": c.preq.model})
        if blocked is not None:
            open_waits.append(registry.breakers.wait_s(blocked, now))
            skipped[c.name] = (f"circuit {blocked.state}: {blocked.failures} of {blocked.calls} recent calls failed; "
                               f"tried again in {registry.breakers.wait_s(blocked, now):.0f}s")
        elif cap is not None and c.estimate.cost_micros > cap * c.preq.n:
            over_cap.append(c.name)
            skipped[c.name] = f"estimate {c.estimate.cost_micros} micros for {c.preq.n} image(s) is over the cap of {cap} per image"
        else:
            candidates.append(c)

    auto = explicit is None
    # Explicit requests fall back only when asked; a model name belongs to the explicit provider.
    allow_fallback = req.fallback is not False if auto else bool(req.fallback)
    if not auto:
        provider = registry.get(explicit)
        if provider is None:
            configured = ", ".join(registry.names()) or "none"
            raise InvalidRequest(f"provider {explicit!r} is not configured; configured: {configured}", details={"field": "provider"})
        keep(_candidate(provider, req, images, mask, partial_images, references))  # raises UnsupportedByProvider when it cannot
    others = req if auto else req.model_copy(update={"model": None})
    for name in auto_order(registry, settings) if auto or allow_fallback else []:
        if name == explicit or (candidates and not allow_fallback):
            continue
        provider = registry.providers[name]
        why = _needs_unmet(provider, others)
        if why:
            skipped[name] = why
            continue
        try:
            keep(_candidate(provider, others, images, mask, partial_images, references))
        except UnsupportedByProvider as exc:
            skipped[name] = exc.message
    if not candidates and over_cap:
        raise BudgetExceeded(
            f"every provider able to serve this costs more than max_cost_per_image_micros={cap}",
            details={"reason": "request_cap", "skipped": skipped},
        )
    if not candidates and open_waits:
        raise ProviderCircuitOpen("every provider able to serve this is failing for every caller (circuit open)",
                                  retry_after_s=round(min(open_waits), 1), details={"skipped": skipped})
    if not candidates:
        detail = "; ".join(f"{k}: {v}" for k, v in skipped.items()) or "no provider is configured"
        raise UnsupportedByProvider(f"no configured provider can serve this request ({detail})", details={"skipped": skipped})
    return Plan(candidates, skipped, auto)
