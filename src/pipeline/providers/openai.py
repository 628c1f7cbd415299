"""OpenAI GPT Image (`gpt-image-1` family): POST {base}/v1/images/generations.

Wire format: the Images API reference. Always sends `model` (the API's default
is dall-e-2). Cost after the call comes from the `usage` tokens."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .. import errors, pricing, sizes
from ..ports import HttpRequest
from . import http_errors
from .base import Capabilities, CostEstimate, GeneratedImage, ImageProvider, ProviderContext, ProviderRequest, ProviderResult

DEFAULT_BASE_URL = "https://api.openai.com"

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class OpenAIProvider(ImageProvider):
    name = "openai"
    capabilities = Capabilities(
        models=("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5"),
        default_model="gpt-image-1",
        edit=True,
        mask=True,
        transparent_background=True,
        native_streaming=True,
        sizes=("1024x1024", "1536x1024", "1024x1536"),
        max_images_per_call=10,
        max_input_images=16,
        qualities=("low", "medium", "high", "auto"),
        output_formats=("png", "jpeg", "webp"),
    )

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.base_url = ctx.settings.get("OPENAI_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
        self._key = ctx.settings["OPENAI_API_KEY"]
        self.timeout_s = float(ctx.settings.get("OPENAI_TIMEOUT_S", "180"))

    # --- costs ---------------------------------------------------------------

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        quality = preq.quality if preq.quality in ("low", "medium", "high") else "high"
        per_image = pricing.OPENAI_PER_IMAGE[preq.model][quality][preq.size]
        total = per_image * preq.n
        basis = f"table: {preq.model} {quality} {preq.size} x{preq.n}"
        if preq.images:
            rates = pricing.OPENAI_TOKEN_RATES[preq.model]
            tokens = pricing.OPENAI_EDIT_INPUT_TOKENS_PER_IMAGE * len(preq.images) * preq.n
            total += pricing.tokens_cost(tokens, rates.image_in)
            basis += f" + {len(preq.images)} input image(s)"
        return CostEstimate(total, basis)

    def actual_cost(self, model: str, usage: dict[str, Any] | None, fallback: int) -> tuple[int, str]:
        """Bill from reported tokens; without usage, the table price."""
        if not usage:
            return fallback, "table (no usage reported)"
        rates = pricing.OPENAI_TOKEN_RATES[model]
        details = usage.get("input_tokens_details") or {}
        text_in = int(details.get("text_tokens", usage.get("input_tokens", 0)) or 0)
        image_in = int(details.get("image_tokens", 0) or 0)
        out = int(usage.get("output_tokens", 0) or 0)
        cost = (
            pricing.tokens_cost(text_in, rates.text_in)
            + pricing.tokens_cost(image_in, rates.image_in)
            + pricing.tokens_cost(out, rates.image_out)
        )
        return cost, f"usage: {text_in} text in, {image_in} image in, {out} out"

    # --- wire ----------------------------------------------------------------

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"authorization": f"Bearer {self._key}", "content-type": content_type}

    def generation_body(self, preq: ProviderRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": preq.model, "prompt": preq.prompt, "n": preq.n, "size": preq.size}
        for key in ("quality", "background", "output_format", "output_compression", "moderation", "user"):
            value = getattr(preq, key)
            if value is not None:
                body[key] = value
        return body

    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        request = HttpRequest(
            "POST",
            f"{self.base_url}/v1/images/generations",
            self._headers(),
            json.dumps(self.generation_body(preq)).encode(),
            self.timeout_s,
        )
        response = await self.ctx.http.send(request)
        if response.status != 200:
            raise self.error_for(response.status, response.headers, response.body)
        return self.parse_result(preq, http_errors.json_body(response.body))

    def error_for(self, status: int, headers: dict[str, str], body: bytes) -> errors.ProviderError:
        message, err = http_errors.error_message(body)
        if err.get("code") in ("moderation_blocked", "content_policy_violation"):
            details = {"provider_code": err.get("code")}
            if isinstance(err.get("moderation_details"), dict):
                details["moderation"] = err["moderation_details"]
            return errors.ProviderRefused(f"openai refused the request: {message}", provider=self.name, details=details)
        return http_errors.from_status(self.name, status, headers, body)

    def parse_result(self, preq: ProviderRequest, payload: dict[str, Any] | None) -> ProviderResult:
        if payload is None or not isinstance(payload.get("data"), list) or not payload["data"]:
            raise errors.ProviderBadResponse("openai answered 200 without image data", provider=self.name)
        fmt = payload.get("output_format") or preq.output_format or "png"
        size = payload.get("size") or preq.size
        w, h = sizes.parse(size) if "x" in str(size) else (None, None)
        images = [GeneratedImage(self.decode(item), _CONTENT_TYPES.get(fmt, "image/png"), w, h) for item in payload["data"]]
        table = self.estimate(preq).cost_micros
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        cost, basis = self.actual_cost(preq.model, usage, table)
        flat_usage = {k: v for k, v in usage.items() if isinstance(v, int)}
        return ProviderResult(images=images, model=preq.model, cost_micros=cost, cost_basis=basis, size=size, usage=flat_usage)

    def decode(self, item: Any) -> bytes:
        b64 = item.get("b64_json") if isinstance(item, dict) else None
        if not isinstance(b64, str) or not b64:
            raise errors.ProviderBadResponse("openai image item has no b64_json", provider=self.name)
        try:
            return base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise errors.ProviderBadResponse("openai sent invalid base64 image data", provider=self.name) from exc


def build(ctx: ProviderContext) -> OpenAIProvider | None:
    return OpenAIProvider(ctx) if ctx.settings.get("OPENAI_API_KEY") else None
