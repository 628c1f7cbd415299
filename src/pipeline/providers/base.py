"""The provider interface: capabilities, estimate, generate/edit, stream, probe.

After pydantic-ai's `Model` and the Vercel AI SDK's image models: one small
abstract class, `max_images_per_call` handled here (callers ask for `n`, the base
splits the work), unsupported options returned as warnings, and failures raised
as the typed errors of errors.py."""

from __future__ import annotations

import abc
import base64
import binascii
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Literal

from .. import sizes
from ..errors import ImageWorkerError, ProviderBadResponse, UnsupportedByProvider
from ..models import GenerationRequest
from ..ports import AiBinding, Clock, HttpClient, HttpRequest, HttpResponse


# File extension of each image type we store or send (R2 keys, multipart filenames).
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def image_type(data: bytes) -> str | None:
    """The content type from the bytes' signature: PNG, JPEG or WebP, else None."""
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


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
    max_input_images: int = 0
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
    user: str | None = None
    partial_images: int = 0  # streaming previews wanted (providers that stream natively)
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


class ImageProvider(abc.ABC):
    name: str
    capabilities: Capabilities

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx

    # --- preparing -----------------------------------------------------------

    def prepare(self, req: GenerationRequest, images: tuple[InputImage, ...] = (), mask: InputImage | None = None) -> ProviderRequest:
        """Normalise a caller's request for this provider, or raise UnsupportedByProvider."""
        caps = self.capabilities
        warnings: list[str] = []
        if images and not caps.edit:
            raise UnsupportedByProvider(f"{self.name} cannot edit images", provider=self.name)
        if mask is not None and not caps.mask:
            raise UnsupportedByProvider(f"{self.name} cannot edit with a mask", provider=self.name)
        if len(images) > max(caps.max_input_images, 0):
            raise UnsupportedByProvider(
                f"{self.name} takes at most {caps.max_input_images} input images", provider=self.name
            )
        model = req.model or caps.default_model
        if model not in caps.models:
            raise UnsupportedByProvider(
                f"{self.name} has no model {model!r}; it has {', '.join(caps.models)}", provider=self.name
            )
        size, note = sizes.choose(req.size, req.aspect_ratio, caps.sizes)
        if note:
            warnings.append(note)
        quality = req.quality
        if quality is not None and caps.qualities and quality not in caps.qualities:
            warnings.append(f"quality={quality} not offered by {self.name}; using its default")
            quality = None
        elif quality is not None and not caps.qualities:
            warnings.append(f"{self.name} has no quality setting; quality={quality} ignored")
            quality = None
        background = req.background
        if background == "transparent" and not caps.transparent_background:
            warnings.append(f"{self.name} cannot make transparent backgrounds; background ignored")
            background = None
        fmt = req.output_format
        if fmt is not None and fmt not in caps.output_formats:
            warnings.append(f"{self.name} cannot output {fmt}; using {caps.output_formats[0]}")
            fmt = None
        if background == "transparent" and fmt == "jpeg":
            raise UnsupportedByProvider("a transparent background needs png or webp output", provider=self.name)
        return ProviderRequest(
            prompt=req.prompt,
            model=model,
            size=size,
            n=req.n,
            quality=quality,
            background=background,
            output_format=fmt,
            output_compression=req.output_compression,
            moderation=req.moderation,
            images=images,
            mask=mask,
            user=req.caller,
            warnings=tuple(warnings),
        )

    # --- costs ---------------------------------------------------------------

    @abc.abstractmethod
    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        """Worst-case cost before the call, from the price tables (pricing.py)."""

    # --- calling -------------------------------------------------------------

    @abc.abstractmethod
    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        """One call producing up to `capabilities.max_images_per_call` images."""

    async def _edit(self, preq: ProviderRequest) -> ProviderResult:
        raise UnsupportedByProvider(f"{self.name} cannot edit images", provider=self.name)

    async def run(self, preq: ProviderRequest) -> ProviderResult:
        """Generate or edit `preq.n` images, in as many calls as the provider needs."""
        call = self._edit if preq.is_edit else self._generate
        result: ProviderResult | None = None
        remaining = preq.n
        while remaining > 0:
            batch = min(remaining, self.capabilities.max_images_per_call)
            try:
                part = await call(replace(preq, n=batch))
            except ImageWorkerError as exc:
                if result is None:
                    raise
                # Earlier calls were billed: keep their images rather than pay for nothing.
                result.warnings.append(
                    f"{preq.n - remaining} of {preq.n} images made; {self.name} failed on the rest ({exc.code})"
                )
                break
            result = part if result is None else result.merge(part)
            remaining -= batch
        assert result is not None
        result.warnings = list(preq.warnings) + [w for w in result.warnings if w not in preq.warnings]
        return result

    async def stream(self, preq: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """Progress as events, ending with one `result`. Providers without native
        streaming just produce the result; OpenAI overrides this."""
        yield ProviderEvent(kind="result", result=await self.run(preq))

    def price_list(self) -> dict[str, Any]:
        """This provider's list prices (micro-dollars), for `GET /v1/providers`."""
        return {}

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
