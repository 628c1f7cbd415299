"""The provider interface: capabilities, estimate, generate/edit, stream, probe.

After pydantic-ai's `Model` and the Vercel AI SDK's image models (`doGenerate`,
`maxImagesPerCall`): one small abstract class whose contract is one call of at
most `images_per_call(model)` images (generation/calls.py splits `n` into calls,
and runs them together where `capabilities.parallel_calls` allows), unsupported
options returned as warnings, and failures raised as the typed errors of errors.py."""

from __future__ import annotations

import abc
import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Literal

from .. import catalog as cat, sizes
from ..catalog.overrides import PriceBook
from ..catalog.spec import ModelSpec, ProviderCatalog
from ..errors import ImageWorkerError, ModelUnavailable, ProviderBadResponse, UnsupportedByProvider
from ..ports import AiBinding, Clock, HttpClient, HttpRequest, HttpResponse, Signer
from .shared.observations import ModelHealth


def decode_image(provider: str, b64: object) -> bytes:
    """A provider's base64 image, or ProviderBadResponse: never a crash, never empty bytes."""
    if not isinstance(b64, str) or not b64:
        raise ProviderBadResponse(f"{provider} sent an image without data", provider=provider)
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProviderBadResponse(f"{provider} sent invalid base64 image data", provider=provider) from exc
    if not data:
        raise ProviderBadResponse(f"{provider} sent an empty image", provider=provider)
    return data


@dataclass(frozen=True)
class Capabilities:
    models: tuple[str, ...]
    default_model: str
    generate: bool = True
    edit: bool = False
    mask: bool = False
    transparent_background: bool = False
    native_streaming: bool = False
    sizes: tuple[str, ...] = ("1024x1024",)  # "WxH" the provider can produce
    max_images_per_call: int = 1
    parallel_calls: int = 1  # calls of one request it may serve at once (catalog: ProviderCatalog.parallel_calls)
    max_input_images: int = 0
    max_references: int = 0  # entity reference images one call may carry (catalog: max_references)
    qualities: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ("png",)
    external: bool = True  # False: no third-party call, no key (placeholder, Workers AI)
    simulated: bool = False  # True: makes stand-in images (placeholder); never a production fallback

    def to_dict(self) -> dict[str, Any]:
        d = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        d["aspect_ratios"] = sorted({sizes.ratio_label(s) for s in self.sizes})
        return d


@dataclass(frozen=True)
class InputImage:
    data: bytes
    content_type: str


@dataclass(frozen=True)
class ProviderRequest:
    """A request normalised for one provider: the size it will really produce,
    a model it really has, options it cannot honour already turned into warnings."""

    prompt: str
    model: str
    size: str  # "WxH", one of capabilities.sizes
    n: int = 1
    quality: str | None = None
    background: str | None = None
    output_format: str | None = None
    output_compression: int | None = None
    moderation: str | None = None
    images: tuple[InputImage, ...] = ()
    mask: InputImage | None = None
    # Entity reference images (generation/references.py), in the order the prompt names
    # them: a new image, not an edit of these (`is_edit` stays False).
    references: tuple[InputImage, ...] = ()
    user: str | None = None
    complexity: str | None = None
    input_fidelity: str | None = None
    person_generation: str | None = None
    partial_images: int = 0  # streaming previews wanted (providers that stream natively)
    wire_size: str | None = None  # sent instead of `size` (OpenAI "auto"); `size` is then what it is priced at
    warnings: tuple[str, ...] = ()

    @property
    def is_edit(self) -> bool:
        return bool(self.images)

    @property
    def aspect_ratio(self) -> str:
        return sizes.ratio_label(self.size)


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    content_type: str
    width: int | None = None
    height: int | None = None


@dataclass
class ProviderResult:
    images: list[GeneratedImage]
    model: str
    cost_micros: int  # what the provider will bill, from reported usage where it reports any
    cost_basis: str
    size: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    filtered: int = 0  # images the provider withheld (safety filters); not billed

    def merge(self, other: ProviderResult) -> ProviderResult:
        usage = dict(self.usage)
        for k, v in other.usage.items():
            usage[k] = usage.get(k, 0) + v if isinstance(v, int) else v
        return ProviderResult(
            images=self.images + other.images,
            model=self.model,
            cost_micros=self.cost_micros + other.cost_micros,
            cost_basis=self.cost_basis if self.cost_basis == other.cost_basis else f"{self.cost_basis}; {other.cost_basis}",
            size=self.size or other.size,
            usage=usage,
            warnings=self.warnings + [w for w in other.warnings if w not in self.warnings],
            filtered=self.filtered + other.filtered,
        )


@dataclass(frozen=True)
class ProviderEvent:
    """A streaming step: a preview (`partial_image`) or the final `result`."""

    kind: Literal["partial_image", "result"]
    image: GeneratedImage | None = None
    index: int = 0
    result: ProviderResult | None = None


@dataclass(frozen=True)
class CostEstimate:
    cost_micros: int
    basis: str


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may use: the ports, its settings (base URL, key), nothing else."""

    http: HttpClient
    clock: Clock
    settings: dict[str, str]
    ai: AiBinding | None = None
    signer: Signer | None = None  # RS256 for service-account auth (Vertex)
    prices: PriceBook = field(default_factory=PriceBook)  # shared by the registry's providers
    models: ModelHealth = field(default_factory=ModelHealth)  # models a provider reported gone


def capabilities_of(catalog: ProviderCatalog, default_model: str, base: Capabilities) -> Capabilities:
    """A provider's capabilities: the union over its models (selection's coarse filter)."""
    models = catalog.models
    sizes_all: list[str] = []
    for m in models:
        sizes_all += [s for s in m.sizes.fixed if s not in sizes_all]
    default = catalog.get(default_model) or models[0]
    return replace(
        base, models=catalog.ids(), default_model=default_model,
        edit=any("edit" in m.operations for m in models), mask=any(m.mask for m in models),
        transparent_background=any(m.transparent for m in models), native_streaming=any(m.streaming for m in models),
        sizes=tuple([s for s in default.sizes.fixed] + [s for s in sizes_all if s not in default.sizes.fixed]),
        max_images_per_call=max(m.images_per_call for m in models), parallel_calls=catalog.parallel_calls,
        max_input_images=max(m.max_input_images for m in models),
        max_references=max(m.max_references for m in models),
        qualities=tuple(dict.fromkeys(q for m in models for q in m.qualities)),
        output_formats=tuple(dict.fromkeys(f for m in models for f in m.formats)),
    )


class ImageProvider(abc.ABC):
    name: str
    kind: str = ""  # the catalog this provider serves (catalog.CATALOGS key)
    capabilities: Capabilities
    priority: int | None = None  # auto-mode rank of an instance (lower first); None = settings order

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx
        if self.kind:
            self.capabilities = capabilities_of(self.catalog, self.default_model(), self.capabilities)

    @property
    def catalog(self) -> ProviderCatalog:
        return cat.CATALOGS[self.kind]

    def spec(self, model: str) -> ModelSpec:
        spec = self.catalog.get(model)
        if spec is None:
            raise UnsupportedByProvider(f"{self.name} has no model {model!r}", provider=self.name)
        return spec

    def rates(self, model: str) -> dict[str, int]:
        """The model's price in force (catalog, or a run-time override)."""
        return self.ctx.prices.rates(self.spec(model))

    def default_model(self, skip: frozenset[str] = frozenset()) -> str:
        explicit = self.ctx.settings.get("DEFAULT_MODEL")
        day = self.ctx.clock.now().date()
        if explicit and self.catalog.get(explicit) and explicit not in skip and self.spec(explicit).status_on(day) != "shut_down":
            return explicit
        tier = self.ctx.settings.get("MODEL_TIER", "cost")
        return cat.default_model(self.catalog, day, tier, skip) or self.catalog.defaults["cost"]

    def images_per_call(self, model: str) -> int:
        """The most images one call of `model` may ask for."""
        spec = self.catalog.get(model) if self.kind else None
        return spec.images_per_call if spec is not None else self.capabilities.max_images_per_call

    def mark_model_unavailable(self, model: str, exc: ImageWorkerError) -> None:
        self.ctx.models.mark(self.name, model, exc.code, self.ctx.clock.monotonic())

    def adapt(self, preq: ProviderRequest, size_asked: str | None, ratio_asked: str | None) -> ProviderRequest:
        """This provider's own changes to a request normalised from the catalog
        (generation/prepare.py calls it last): what its API takes differently. The caller's
        size and aspect ratio come along as asked."""
        return preq

    # --- costs ---------------------------------------------------------------

    @abc.abstractmethod
    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        """Worst-case cost before the call, from the price tables (pricing.py)."""

    # --- calling -------------------------------------------------------------

    @abc.abstractmethod
    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        """One call producing up to `images_per_call(preq.model)` images."""

    async def _edit(self, preq: ProviderRequest) -> ProviderResult:
        raise UnsupportedByProvider(f"{self.name} cannot edit images", provider=self.name)

    async def run(self, preq: ProviderRequest) -> ProviderResult:
        """One call: generate or edit `preq.n` images, at most `images_per_call(preq.model)`."""
        most = self.images_per_call(preq.model)
        if preq.n > most:  # a caller's bug (generation/calls.py splits n): never send it
            raise ValueError(f"{self.name} makes at most {most} image(s) per call; {preq.n} asked")
        call = self._edit if preq.is_edit else self._generate
        try:
            result = await call(preq)
        except ModelUnavailable as exc:
            self.mark_model_unavailable(preq.model, exc)
            raise
        result.warnings = list(preq.warnings) + [w for w in result.warnings if w not in preq.warnings]
        return result

    async def stream(self, preq: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """Progress as events, ending with one `result`. Providers without native
        streaming just produce the result; OpenAI overrides this."""
        yield ProviderEvent(kind="result", result=await self.run(preq))

    def streams_natively(self, preq: ProviderRequest) -> bool:
        """Will `stream(preq)` report real progress (previews) before the result?"""
        return self.capabilities.native_streaming and preq.partial_images > 0

    def price_list(self) -> dict[str, Any]:
        """This provider's prices in force (micro-dollars) per model, for `GET /v1/providers`."""
        if not self.kind:
            return {}
        return {m.id: self.ctx.prices.price(m).to_dict() for m in self.catalog.models}

    async def probe(self) -> dict[str, Any]:
        """A cheap active health check (no image is generated, nothing is billed)."""
        return {"ok": True, "detail": "no probe"}

    async def probe_request(self, request: HttpRequest, to_error: Callable[[HttpResponse], ImageWorkerError]) -> dict[str, Any]:
        """Send a request that generates nothing (e.g. GET the model); never raises."""
        started = self.ctx.clock.monotonic()
        try:
            response = await self.ctx.http.send(request)
        except ImageWorkerError as exc:
            return {"ok": False, "latency_ms": int((self.ctx.clock.monotonic() - started) * 1000), "detail": exc.code}
        latency = int((self.ctx.clock.monotonic() - started) * 1000)
        if response.status == 200:
            return {"ok": True, "latency_ms": latency, "detail": "model reachable"}
        return {"ok": False, "latency_ms": latency, "detail": to_error(response).code}

