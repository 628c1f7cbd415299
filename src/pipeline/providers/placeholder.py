"""`placeholder`: a deterministic PNG made locally (placeholder_art.py: the prompt's words
on a generated picture, at the requested size). Free, no key, no network.

The default when no provider key is set, so the service runs offline; the same
request always gives the same bytes, which makes it a real provider for tests."""

from __future__ import annotations

import hashlib
from typing import AsyncIterator

from .. import sizes
from .placeholder_art import render_png
from .base import (
    Capabilities,
    CostEstimate,
    GeneratedImage,
    ImageProvider,
    ProviderEvent,
    ProviderRequest,
    ProviderResult,
)

_SIZES = ("1024x1024", "1536x1024", "1024x1536", "512x512", "256x256", "1344x768", "768x1344")


__all__ = ["PlaceholderProvider", "build", "render_png"]


class PlaceholderProvider(ImageProvider):
    name = "placeholder"
    capabilities = Capabilities(
        models=("placeholder-1",),
        default_model="placeholder-1",
        edit=True,
        mask=True,
        transparent_background=True,
        native_streaming=True,
        sizes=_SIZES,
        max_images_per_call=10,
        max_input_images=16,
        max_references=16,
        qualities=("low", "medium", "high", "auto"),
        output_formats=("png",),
        external=False,
        simulated=True,
    )

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        return CostEstimate(0, "placeholder is free")

    def price_list(self) -> dict[str, object]:
        return {"per_image": 0}

    def _images(self, preq: ProviderRequest) -> list[GeneratedImage]:
        w, h = sizes.parse(preq.size)
        sources = b"".join(hashlib.sha256(i.data).digest() for i in (*preq.images, *preq.references))
        out = []
        for i in range(preq.n):
            seed = f"{preq.prompt}\x00{preq.size}\x00{preq.quality}\x00{i}".encode() + sources
            png = render_png(seed, w, h, transparent=preq.background == "transparent", text=preq.prompt)
            out.append(GeneratedImage(png, "image/png", w, h))
        return out

    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        return ProviderResult(
            images=self._images(preq), model=preq.model, cost_micros=0, cost_basis="free", size=preq.size
        )

    async def _edit(self, preq: ProviderRequest) -> ProviderResult:
        return await self._generate(preq)

    async def stream(self, preq: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        # Simulated previews: a small render of the same seed before each final image.
        for i in range(min(preq.partial_images, 3)):
            preview = render_png(f"{preq.prompt}\x00preview\x00{i}".encode(), 64, 64, text=preq.prompt)
            yield ProviderEvent(kind="partial_image", image=GeneratedImage(preview, "image/png", 64, 64), index=i)
        yield ProviderEvent(kind="result", result=await self.run(preq))

    async def probe(self) -> dict[str, object]:
        return {"ok": True, "detail": "local renderer"}


def build(ctx) -> PlaceholderProvider | None:  # ProviderContext
    """Always available unless disabled: it costs nothing and needs nothing."""
    if ctx.settings.get("PLACEHOLDER_ENABLED", "true").lower() in ("0", "false", "no"):
        return None
    return PlaceholderProvider(ctx)
