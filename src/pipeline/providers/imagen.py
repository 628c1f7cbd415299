"""Imagen 4 (fast / standard / ultra) on Vertex AI: POST
{regional base}/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:predict,
with a service-account bearer token (google_api.VertexMixin). Imagen is gone from
the Gemini API (shut down 2026-08-17).

Up to four images per call (`sampleCount`); `sampleImageSize` 1K/2K (not on fast),
`aspectRatio` one of the five documented ratios, `personGeneration` as the caller
asks. Images withheld by the safety filter come back as `raiFilteredReason`
entries without bytes; they are not billed, and are reported (count + reason).
All withheld means `ProviderRefused`."""

from __future__ import annotations

from typing import Any

from .. import errors, sizes
from ..catalog import imagen as imagen_catalog, pricing
from .base import Capabilities, CostEstimate, GeneratedImage, ProviderContext, ProviderRequest, ProviderResult
from .shared.google_api import GoogleApiProvider, VertexMixin, decode_b64_image, vertex_configured


class ImagenProvider(VertexMixin, GoogleApiProvider):
    name = "imagen"
    kind = "imagen"
    capabilities = Capabilities(models=(), default_model="")

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.person_generation = ctx.settings.get("IMAGEN_PERSON_GENERATION", "allow_adult")

    def per_image(self, model: str) -> int:
        return self.rates(model).get("per_image", 0)

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        per_image = self.per_image(preq.model)
        return CostEstimate(per_image * preq.n, f"per image: {preq.model} {pricing.usd(per_image)} x{preq.n}")

    def request_body(self, preq: ProviderRequest) -> dict[str, Any]:
        ratio, image_size = imagen_catalog.SIZE_OF.get(preq.size, (sizes.ratio_label(preq.size), "1K"))
        parameters: dict[str, Any] = {
            "sampleCount": preq.n,
            "aspectRatio": ratio,
            "personGeneration": preq.person_generation or self.person_generation,
            "includeRaiReason": True,
        }
        if len(self.spec(preq.model).image_sizes) > 1:  # fast renders 1K only and takes no size
            parameters["sampleImageSize"] = image_size
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
                data = decode_b64_image(self.name, item["bytesBase64Encoded"])
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
        per_image = self.per_image(preq.model)
        billed = len(images)  # every returned image is billed, even one more than asked for
        images = images[: preq.n]
        warnings = [f"imagen withheld {filtered} of {preq.n} image(s): {'; '.join(reasons) or 'no reason given'}"] if filtered else []
        return ProviderResult(
            images=images, model=preq.model, cost_micros=per_image * billed,
            cost_basis=f"{billed} image(s) returned x {pricing.usd(per_image)}", size=preq.size,
            usage={"images_returned": billed, "images_filtered": filtered}, warnings=warnings, filtered=filtered,
        )


def build(ctx: ProviderContext) -> ImagenProvider | None:
    return ImagenProvider(ctx) if vertex_configured(ctx) else None
