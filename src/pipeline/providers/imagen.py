"""Imagen 4 (fast / standard / ultra) through the Gemini API: POST {base}/v1beta/models/{model}:predict.

Up to four images per call (`sampleCount`). Images withheld by the safety
filter come back as `raiFilteredReason` entries without bytes; they are not
billed, and we report them (count + reason) instead of dropping them silently.
All withheld means `ProviderRefused`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .. import errors, sizes
from ..catalog import pricing
from .base import (
    Capabilities,
    CostEstimate,
    GeneratedImage,
    ProviderContext,
    ProviderRequest,
    ProviderResult,
    decode_image,
)
from .google_api import GoogleApiProvider

SIZES_1K = ("1024x1024", "896x1280", "1280x896", "768x1408", "1408x768")
SIZES_2K = ("2048x2048", "1792x2560", "2560x1792", "1536x2816", "2816x1536")
FAST = "imagen-4.0-fast-generate-001"


class ImagenProvider(GoogleApiProvider):
    name = "imagen"
    capabilities = Capabilities(
        models=(FAST, "imagen-4.0-generate-001", "imagen-4.0-ultra-generate-001"),
        default_model="imagen-4.0-generate-001",
        sizes=SIZES_1K + SIZES_2K,
        max_images_per_call=4,
        qualities=(),
        output_formats=("png",),
    )

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.person_generation = ctx.settings.get("IMAGEN_PERSON_GENERATION", "allow_adult")

    def prepare(self, req, images=(), mask=None) -> ProviderRequest:  # type: ignore[override]
        preq = super().prepare(req, images, mask)
        if preq.model == FAST and preq.size in SIZES_2K:
            # The fast model renders 1K only: same aspect ratio, smaller size.
            size = SIZES_1K[SIZES_2K.index(preq.size)]
            preq = replace(preq, size=size, warnings=preq.warnings + (f"{FAST} renders 1K only; using {size}",))
        return preq

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        per_image = pricing.IMAGEN_PER_IMAGE[preq.model]
        return CostEstimate(per_image * preq.n, f"table: {preq.model} {pricing.usd(per_image)} x{preq.n}")

    def price_list(self) -> dict[str, Any]:
        return {"per_image": pricing.IMAGEN_PER_IMAGE}

    def request_body(self, preq: ProviderRequest) -> dict[str, Any]:
        parameters: dict[str, Any] = {
            "sampleCount": preq.n,
            "aspectRatio": preq.aspect_ratio,
            "personGeneration": self.person_generation,
            "includeRaiReason": True,
        }
        if preq.model != FAST:
            parameters["imageSize"] = "2K" if preq.size in SIZES_2K else "1K"
        return {"instances": [{"prompt": preq.prompt}], "parameters": parameters}

    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        return self.parse(preq, await self.post(preq.model, "predict", self.request_body(preq)))

    def parse(self, preq: ProviderRequest, payload: dict[str, Any]) -> ProviderResult:
        predictions = payload.get("predictions") or []
        if not isinstance(predictions, list):
            raise errors.ProviderBadResponse("imagen predictions is not a list", provider=self.name)
        w, h = sizes.parse(preq.size)
        images, reasons = [], []
        for item in predictions:
            if not isinstance(item, dict):
                continue
            if item.get("bytesBase64Encoded"):
                data = decode_image(self.name, item["bytesBase64Encoded"])
                images.append(GeneratedImage(data, item.get("mimeType") or "image/png", w, h))
            elif item.get("raiFilteredReason"):
                reasons.append(str(item["raiFilteredReason"]))
        # Fewer images than asked and no reason given still means filtered: nothing else withholds them.
        filtered = max(len(reasons), preq.n - len(images))
        if not images:
            raise errors.ProviderRefused(
                "imagen's safety filter withheld every image" + (f": {reasons[0]}" if reasons else ""),
                provider=self.name, details={"filtered": filtered, "reasons": reasons},
            )
        per_image = pricing.IMAGEN_PER_IMAGE[preq.model]
        billed = len(images)  # every returned image is billed, even one more than asked for
        images = images[: preq.n]
        warnings = [f"imagen withheld {filtered} of {preq.n} image(s): {'; '.join(reasons) or 'no reason given'}"] if filtered else []
        return ProviderResult(
            images=images, model=preq.model, cost_micros=per_image * billed,
            cost_basis=f"{billed} image(s) returned x {pricing.usd(per_image)}", size=preq.size,
            usage={"images_returned": billed, "images_filtered": filtered}, warnings=warnings, filtered=filtered,
        )

def build(ctx: ProviderContext) -> ImagenProvider | None:
    return ImagenProvider(ctx) if ctx.settings.get("GEMINI_API_KEY") else None
