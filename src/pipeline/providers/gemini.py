"""Gemini image models (catalog/gemini.py): POST .../models/{model}:generateContent.

One image per call, and never more than asked is kept; n images are n calls,
made together (`parallel_calls` in the catalog; generation/calls.py). `imageConfig`
carries aspectRatio, imageSize (1K/2K/4K where the model has them) and, on Vertex AI
only, personGeneration (google-genai refuses to send it to the Gemini API). Edits send
the reference images as `inlineData` parts before the instruction (no mask). Parts
marked `thought: true` (a thinking model's interim drafts) are never the result. Every
finish and block reason the SDK lists maps to refused or failed in the tables below; a
failed answer that reports usage carries its cost (`charged_micros`). The same adapter
runs on Vertex AI (`gemini-vertex`) with service-account auth (shared/google_api.py)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from .. import errors, sizes
from ..catalog import gemini as gemini_catalog, pricing
from .base import Capabilities, CostEstimate, GeneratedImage, ProviderContext, ProviderRequest, ProviderResult
from .shared.google_api import GoogleApiProvider, VertexMixin, decode_b64_image, vertex_configured

# google-genai 3.6.1 `types.FinishReason`, for a candidate without an image: a policy
# decision (refused: final, never sent elsewhere) or a failure (another provider may serve).
FINISH_REASONS: dict[str, type[errors.ProviderError]] = {
    "SAFETY": errors.ProviderRefused, "IMAGE_SAFETY": errors.ProviderRefused,
    "PROHIBITED_CONTENT": errors.ProviderRefused, "IMAGE_PROHIBITED_CONTENT": errors.ProviderRefused,
    "BLOCKLIST": errors.ProviderRefused, "SPII": errors.ProviderRefused, "RECITATION": errors.ProviderRefused,
    "IMAGE_RECITATION": errors.ProviderRefused, "MODEL_ARMOR": errors.ProviderRefused,
    "NO_IMAGE": errors.ProviderRefused,  # the model declined to draw; a 200 without an image
    "LANGUAGE": errors.ProviderRefused,  # unsupported prompt language: the same prompt fails elsewhere too
    "STOP": errors.ProviderRefused,  # finished with text only: declined in words
    "IMAGE_OTHER": errors.ProviderBadResponse, "OTHER": errors.ProviderBadResponse,
    "MAX_TOKENS": errors.ProviderBadResponse, "MALFORMED_FUNCTION_CALL": errors.ProviderBadResponse,
    "UNEXPECTED_TOOL_CALL": errors.ProviderBadResponse, "TOO_MANY_TOOL_CALLS": errors.ProviderBadResponse,
    "MISSING_THOUGHT_SIGNATURE": errors.ProviderBadResponse, "MALFORMED_RESPONSE": errors.ProviderBadResponse,
    "ESCALATION": errors.ProviderBadResponse, "PUP_LIMITED_DISABLED": errors.ProviderBadResponse,
    "CONTINUATION": errors.ProviderBadResponse, "FINISH_REASON_UNSPECIFIED": errors.ProviderBadResponse,
}
# `types.BlockedReason` (promptFeedback.blockReason): the prompt itself was blocked.
BLOCK_REASONS: dict[str, type[errors.ProviderError]] = {
    "SAFETY": errors.ProviderRefused, "OTHER": errors.ProviderRefused, "BLOCKLIST": errors.ProviderRefused,
    "PROHIBITED_CONTENT": errors.ProviderRefused, "IMAGE_SAFETY": errors.ProviderRefused,
    "MODEL_ARMOR": errors.ProviderRefused, "JAILBREAK": errors.ProviderRefused,
    "BLOCKED_REASON_UNSPECIFIED": errors.ProviderRefused,
}


def _part_image(part: dict[str, Any]) -> dict[str, Any] | None:
    """The image of a final (non-thought) part, else None."""
    if part.get("thought") is True:  # an interim draft of a thinking model: billed as thoughts, never the result
        return None
    data = part.get("inlineData") or part.get("inline_data")
    return data if isinstance(data, dict) else None


class GeminiProvider(GoogleApiProvider):
    name = "gemini"
    kind = "gemini"
    capabilities = Capabilities(models=(), default_model="")
    # google-genai 3.6.1 `_ImageConfig_to_mldev` raises on person_generation ("only supported in
    # Gemini Enterprise Agent Platform mode"); `_ImageConfig_to_vertex` sends it.
    sends_person_generation = False

    def adapt(self, preq: ProviderRequest, size_asked: str | None, ratio_asked: str | None) -> ProviderRequest:
        """A person_generation this API does not take becomes a warning."""
        if preq.person_generation and not self.sends_person_generation:
            note = (f"person_generation={preq.person_generation} is not supported by the Gemini API (only on Vertex AI: "
                    f"gemini-vertex); ignored, the model's own defaults apply")
            preq = replace(preq, person_generation=None, warnings=preq.warnings + (note,))
        return preq

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        spec, rates = self.spec(preq.model), self.rates(preq.model)
        _, image_size = self.wire_size(preq)
        inputs = len(preq.images) + len(preq.references)  # each input image at the model's input-image price
        out = spec.estimate.get(image_size) or max(v for k, v in spec.estimate.items() if k in gemini_catalog.SCALE)
        per_call = (pricing.tokens_cost(out, rates.get("image_out", 0))
                    + pricing.tokens_cost(spec.estimate.get("text_out_room", 0), rates.get("text_out", 0))
                    + pricing.tokens_cost(pricing.prompt_tokens_bound(preq.prompt), rates.get("text_in", 0))
                    + pricing.tokens_cost(spec.estimate["image_in_tokens"] * inputs, rates.get("image_in", 0)))
        return CostEstimate(per_call * preq.n, f"tokens: {preq.model} {image_size} ~{out} out x{preq.n} + prompt"
                            + (f" + {len(preq.images)} input image(s)" if preq.images else "")
                            + (f" + {len(preq.references)} reference image(s)" if preq.references else ""))

    def wire_size(self, preq: ProviderRequest) -> tuple[str, str]:
        """(aspectRatio, imageSize) of the preset size chosen for the request."""
        spec = self.spec(preq.model)
        table = gemini_catalog.presets(spec.aspect_ratios, spec.image_sizes)
        return table.get(preq.size) or (sizes.ratio_label(preq.size), "1K")

    def request_body(self, preq: ProviderRequest) -> dict[str, Any]:
        """An edit: its images, then the instruction. References: the prompt (which names
        them in order), then the reference images, as the Gemini API's image-generation guide
        sends "up to 14 reference images" (text part first, one `inlineData` part each)."""
        def inline(img: Any) -> dict[str, Any]:
            return {"inlineData": {"mimeType": img.content_type, "data": base64.b64encode(img.data).decode()}}

        parts: list[dict[str, Any]] = [inline(img) for img in preq.images]
        parts.append({"text": preq.prompt})
        parts += [inline(img) for img in preq.references]
        ratio, image_size = self.wire_size(preq)
        image_config: dict[str, Any] = {"aspectRatio": ratio}
        if len(self.spec(preq.model).image_sizes) > 1:  # 1K-only models do not take imageSize
            image_config["imageSize"] = image_size
        if preq.person_generation and self.sends_person_generation:
            image_config["personGeneration"] = gemini_catalog.PERSON_WIRE[preq.person_generation]
        return {
            "contents": [{"role": "user", "parts": parts}],
            # IMAGE only: we store images, and a text-only answer is then clearly a refusal.
            "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": image_config},
        }

    async def _call(self, preq: ProviderRequest) -> ProviderResult:
        return self.parse(preq, await self.post(preq.model, "generateContent", self.request_body(preq)))

    _generate = _call
    _edit = _call

    def parse(self, preq: ProviderRequest, payload: dict[str, Any]) -> ProviderResult:
        feedback = payload.get("promptFeedback") or {}
        candidates = payload.get("candidates") or []
        block = feedback.get("blockReason")
        if block and not candidates:
            cls = BLOCK_REASONS.get(block, errors.ProviderRefused)
            raise cls(f"{self.name} blocked the prompt ({block})", provider=self.name, details={"reason": block})
        if not candidates:
            raise errors.ProviderBadResponse(f"{self.name} answered without candidates", provider=self.name)
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        images = [img for img in (_part_image(p) for p in parts if isinstance(p, dict)) if img]
        reason = candidate.get("finishReason") or "NO_IMAGE"
        meta = payload.get("usageMetadata") if isinstance(payload.get("usageMetadata"), dict) else {}
        if not images:
            text = " ".join(str(p.get("text")) for p in parts
                            if isinstance(p, dict) and p.get("text") and p.get("thought") is not True)[:300]
            cls = FINISH_REASONS.get(reason, errors.ProviderBadResponse)
            details: dict[str, Any] = {"reason": reason}
            charged = None
            if meta and not issubclass(cls, errors.ProviderRefused):  # a refusal is never charged (docs/budget.md)
                # The usage it reported is what was billed: charged instead of the call's estimate.
                charged, details["cost_basis"], _ = self.actual_cost(preq, meta, 0)
            raise cls(f"{self.name} returned no image (finishReason {reason})" + (f": {text}" if text else ""),
                      provider=self.name, details=details, charged_micros=charged)
        w, h = sizes.parse(preq.size)
        # One call asks for one image; a model that sends more is billed for them, we keep one.
        kept = images[: preq.n]
        out = [GeneratedImage(decode_b64_image(self.name, img.get("data")), img.get("mimeType") or img.get("mime_type") or "image/png", w, h)
               for img in kept]
        cost, basis, usage = self.actual_cost(preq, meta, len(images))
        warnings = [f"{self.name} returned {len(images)} images for 1 asked; kept {len(out)}"] if len(images) > len(out) else []
        return ProviderResult(images=out, model=preq.model, cost_micros=cost, cost_basis=basis, size=preq.size,
                              usage=usage, warnings=warnings)

    def actual_cost(self, preq: ProviderRequest, meta: dict[str, Any], images: int) -> tuple[int, str, dict[str, int]]:
        """From `usageMetadata`. With `candidatesTokensDetails`, IMAGE tokens at the image rate
        and the rest of the candidates at the text rate; without it, all candidate tokens at the
        image rate (never the per-image count on top). Thoughts are text output."""
        rates = self.rates(preq.model)
        spec = self.spec(preq.model)
        if not meta:
            per_image = spec.estimate.get(self.wire_size(preq)[1], 1120)
            return pricing.tokens_cost(per_image * images, rates.get("image_out", 0)), "catalog tokens (no usage reported)", {}
        prompt = int(meta.get("promptTokenCount") or 0)
        # Input images (edits, references) at the input-image rate where the split is reported.
        prompt_details = meta.get("promptTokensDetails")
        image_in = sum(int(d.get("tokenCount") or 0) for d in prompt_details if isinstance(d, dict)
                       and d.get("modality") == "IMAGE") if isinstance(prompt_details, list) else 0
        image_in = min(image_in, prompt)
        candidates = int(meta.get("candidatesTokenCount") or 0)
        details = meta.get("candidatesTokensDetails")
        if isinstance(details, list) and details:
            image_out = sum(int(d.get("tokenCount") or 0) for d in details if isinstance(d, dict) and d.get("modality") == "IMAGE")
            text_out = max(0, candidates - image_out)
        else:
            image_out, text_out = candidates, 0
        text_out += int(meta.get("thoughtsTokenCount") or 0)
        cost = (pricing.tokens_cost(prompt - image_in, rates.get("text_in", 0))
                + pricing.tokens_cost(image_in, rates.get("image_in", rates.get("text_in", 0)))
                + pricing.tokens_cost(image_out, rates.get("image_out", 0)) + pricing.tokens_cost(text_out, rates.get("text_out", 0)))
        usage = {"prompt_tokens": prompt, "image_output_tokens": image_out, "text_output_tokens": text_out}
        if image_in:
            usage["image_input_tokens"] = image_in
        images_in = f" ({image_in} image)" if image_in else ""
        return cost, f"usage: {prompt} in{images_in}, {image_out} image out, {text_out} text out", usage


class GeminiVertexProvider(VertexMixin, GeminiProvider):
    """The Gemini image models through Vertex AI, with the Imagen service account."""

    name = "gemini-vertex"
    kind = "gemini-vertex"
    sends_person_generation = True


def build(ctx: ProviderContext) -> GeminiProvider | None:
    return GeminiProvider(ctx) if ctx.settings.get("GEMINI_API_KEY") else None


def build_vertex(ctx: ProviderContext) -> GeminiVertexProvider | None:
    return GeminiVertexProvider(ctx) if vertex_configured(ctx) and ctx.settings.get("VERTEX_GEMINI", "").lower() in ("1", "true", "yes") else None
