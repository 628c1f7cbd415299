"""Gemini 2.5 Flash Image: POST {base}/v1beta/models/{model}:generateContent.

One image per call. Edits send the source images as `inlineData` parts before
the instruction (no mask). Safety outcomes — a blocked prompt, a safety
`finishReason`, or an answer without an image — become `ProviderRefused`."""

from __future__ import annotations

import base64
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

# The documented 1K output size of each aspect ratio; 1:1 first (the default).
SIZES = (
    "1024x1024", "832x1248", "1248x832", "864x1184", "1184x864",
    "896x1152", "1152x896", "768x1344", "1344x768", "1536x672",
)

# finishReason values that mean "refused for safety or policy", not "broken".
REFUSAL_REASONS = frozenset({
    "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
    "RECITATION", "IMAGE_RECITATION", "NO_IMAGE", "LANGUAGE",
})


def _part_image(part: dict[str, Any]) -> dict[str, Any] | None:
    data = part.get("inlineData") or part.get("inline_data")
    return data if isinstance(data, dict) else None


class GeminiProvider(GoogleApiProvider):
    name = "gemini"
    capabilities = Capabilities(
        models=("gemini-2.5-flash-image",),
        default_model="gemini-2.5-flash-image",
        edit=True,
        mask=False,
        transparent_background=False,
        native_streaming=False,
        sizes=SIZES,
        max_images_per_call=1,
        max_input_images=3,
        qualities=(),
        output_formats=("png",),
    )

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        rates = pricing.GEMINI_TOKEN_RATES[preq.model]
        per_call = (pricing.GEMINI_PER_IMAGE[preq.model] + len(preq.images) * pricing.GEMINI_INPUT_IMAGE_MICROS
                    + pricing.tokens_cost(pricing.prompt_tokens_bound(preq.prompt), rates.text_in))
        return CostEstimate(per_call * preq.n, f"table: {preq.model} x{preq.n} + prompt"
                            + (f" + {len(preq.images)} input image(s)" if preq.images else ""))

    def price_list(self) -> dict[str, Any]:
        return {"per_image": pricing.GEMINI_PER_IMAGE,
                "tokens_per_million": {m: r.__dict__ for m, r in pricing.GEMINI_TOKEN_RATES.items()}}

    def request_body(self, preq: ProviderRequest) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [
            {"inlineData": {"mimeType": img.content_type, "data": base64.b64encode(img.data).decode()}}
            for img in preq.images
        ]
        parts.append({"text": preq.prompt})
        return {
            "contents": [{"role": "user", "parts": parts}],
            # IMAGE only: we store images, and a text-only answer is then clearly a refusal.
            "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": preq.aspect_ratio}},
        }

    async def _call(self, preq: ProviderRequest) -> ProviderResult:
        return self.parse(preq, await self.post(preq.model, "generateContent", self.request_body(preq)))

    _generate = _call
    _edit = _call

    def parse(self, preq: ProviderRequest, payload: dict[str, Any]) -> ProviderResult:
        feedback = payload.get("promptFeedback") or {}
        candidates = payload.get("candidates") or []
        if feedback.get("blockReason") and not candidates:
            raise errors.ProviderRefused(
                f"gemini blocked the prompt ({feedback['blockReason']})", provider=self.name,
                details={"reason": feedback["blockReason"]},
            )
        if not candidates:
            raise errors.ProviderBadResponse("gemini answered without candidates", provider=self.name)
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        images = [img for img in (_part_image(p) for p in parts if isinstance(p, dict)) if img]
        reason = candidate.get("finishReason")
        if not images:
            text = " ".join(str(p.get("text")) for p in parts if isinstance(p, dict) and p.get("text"))[:300]
            if reason in REFUSAL_REASONS or reason in (None, "STOP"):
                raise errors.ProviderRefused(
                    f"gemini returned no image (finishReason {reason or 'none'})" + (f": {text}" if text else ""),
                    provider=self.name, details={"reason": reason or "NO_IMAGE"},
                )
            raise errors.ProviderBadResponse(f"gemini returned no image (finishReason {reason})", provider=self.name)
        w, h = sizes.parse(preq.size)
        out = []
        for img in images:
            data = decode_image(self.name, img.get("data"))
            out.append(GeneratedImage(data, img.get("mimeType") or img.get("mime_type") or "image/png", w, h))
        cost, basis, usage = self.actual_cost(preq, payload.get("usageMetadata") or {}, len(out))
        return ProviderResult(images=out, model=preq.model, cost_micros=cost, cost_basis=basis, size=preq.size, usage=usage)

    def actual_cost(self, preq: ProviderRequest, meta: dict[str, Any], images: int) -> tuple[int, str, dict[str, int]]:
        rates = pricing.GEMINI_TOKEN_RATES[preq.model]
        prompt = int(meta.get("promptTokenCount") or 0)
        image_out = sum(int(d.get("tokenCount") or 0) for d in meta.get("candidatesTokensDetails") or []
                        if d.get("modality") == "IMAGE")
        text_out = max(0, int(meta.get("candidatesTokenCount") or 0) - image_out) + int(meta.get("thoughtsTokenCount") or 0)
        if not meta:
            return pricing.GEMINI_PER_IMAGE[preq.model] * images, "table (no usage reported)", {}
        if image_out == 0:
            image_out = pricing.GEMINI_TOKENS_PER_IMAGE * images  # not itemised: every image is 1290 tokens
        cost = (pricing.tokens_cost(prompt, rates.text_in) + pricing.tokens_cost(image_out, rates.image_out)
                + pricing.tokens_cost(text_out, rates.text_out))
        usage = {"prompt_tokens": prompt, "image_output_tokens": image_out, "text_output_tokens": text_out}
        return cost, f"usage: {prompt} in, {image_out} image out, {text_out} text out", usage

def build(ctx: ProviderContext) -> GeminiProvider | None:
    return GeminiProvider(ctx) if ctx.settings.get("GEMINI_API_KEY") else None
