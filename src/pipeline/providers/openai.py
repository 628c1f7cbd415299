"""OpenAI GPT Image (models in catalog/openai.py): the Images API.

POST {base}/v1/images/generations (JSON) and /v1/images/edits (multipart: the
source images as `image[]`, an optional `mask`). Always sends `model` (the
API's default is dall-e-2). With `stream: true` and `partial_images` the API
answers Server-Sent Events (`image_generation.partial_image`, `…completed`;
`image_edit.*` for edits), parsed as they arrive. Cost after the call comes
from the reported `usage` tokens."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, AsyncIterator

from .. import errors, sizes
from ..catalog import openai as openai_catalog, pricing
from ..inspect_image import EXTENSIONS
from ..ports import HttpRequest
from .shared import http_errors, multipart, sse
from .base import (
    Capabilities,
    CostEstimate,
    GeneratedImage,
    ImageProvider,
    InputImage,
    ProviderContext,
    ProviderEvent,
    ProviderRequest,
    ProviderResult,
    decode_image,
)

DEFAULT_BASE_URL = "https://api.openai.com"

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


# Error codes that are not about this request: the account is out of money or over its
# billing limit. Retrying cannot help today; another provider may.
QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
# The model does not exist (any more) for this key: fall back, and stop choosing it.
MODEL_GONE_CODES = frozenset({"model_not_found", "model_deprecated", "model_retired"})


def _quality_tokens(model: str, quality: str, size: str, qualities: tuple[str, ...]) -> int:
    """Image output tokens of one image: the quality's 1024x1024 count scaled by pixels
    (`auto` counts as the model's costliest quality)."""
    table = openai_catalog.OUTPUT_TOKENS_1024
    if quality not in table:
        quality = max((q for q in qualities if q in table), key=table.__getitem__)
    w, h = sizes.parse(size)
    return -(-table[quality] * w * h // (1024 * 1024))


class OpenAIProvider(ImageProvider):
    name = "openai"
    kind = "openai"
    capabilities = Capabilities(models=(), default_model="")

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.base_url = ctx.settings.get("OPENAI_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
        self._key = ctx.settings["OPENAI_API_KEY"]
        self.timeout_s = float(ctx.settings.get("OPENAI_TIMEOUT_S", "180"))

    def adapt(self, preq: ProviderRequest, size_asked: str | None, ratio_asked: str | None) -> ProviderRequest:
        """`size: "auto"` (no aspect ratio) is sent as "auto", as the SDK sends it: the API
        picks the size, and the request is priced (and capped) at the largest standard size
        it may pick. The size it reports is the one recorded."""
        if size_asked == "auto" and ratio_asked is None:
            spec = self.spec(preq.model)
            # OpenAI's automatic sizing picks among the standard sizes (SDK `size` docstring).
            standard = [s for s in spec.sizes.fixed if s in openai_catalog.PRESETS]
            costliest = max(standard, key=lambda s: sizes.parse(s)[0] * sizes.parse(s)[1])
            preq = replace(preq, size=costliest, wire_size="auto")
        if preq.references and preq.moderation is not None:  # the edits endpoint has no `moderation`
            preq = replace(preq, moderation=None, warnings=preq.warnings + (
                f"moderation={preq.moderation} is not taken by OpenAI's edits endpoint, which carries the references; ignored",))
        return preq

    # --- costs ---------------------------------------------------------------

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        """Worst case from the catalog's rates: output tokens by quality and pixels (`auto` as
        the costliest quality), streamed previews, the prompt (bounded) and any input images."""
        spec, rates = self.spec(preq.model), self.rates(preq.model)
        quality = preq.quality or "auto"
        per_image = _quality_tokens(preq.model, quality, preq.size, spec.qualities)
        out_tokens = (per_image + preq.partial_images * openai_catalog.PARTIAL_IMAGE_TOKENS) * preq.n
        total = (pricing.tokens_cost(out_tokens, rates.get("image_out", 0))
                 + pricing.tokens_cost(pricing.prompt_tokens_bound(preq.prompt),
                                       rates.get("text_in", 0)))
        size = f"{preq.wire_size} (priced as {preq.size})" if preq.wire_size else preq.size
        basis = f"tokens: {preq.model} {quality} {size} ~{per_image} out x{preq.n} + prompt"
        # The mask is an input image too; references are input images of the edits endpoint.
        inputs = len(preq.images) + len(preq.references) + (1 if preq.mask is not None else 0)
        if inputs:
            tokens = spec.estimate["image_in_tokens"] * inputs
            total += pricing.tokens_cost(tokens, rates.get("image_in", 0))
            basis += f" + {inputs} input image(s)"
        return CostEstimate(total, basis)

    def actual_cost(self, model: str, usage: dict[str, Any] | None, fallback: int) -> tuple[int, str]:
        """Bill from reported tokens. Output is split by `output_tokens_details` (image and
        text output have different rates); without the split, all output is image output."""
        if not usage:
            return fallback, "estimate (no usage reported)"
        rates = self.rates(model)
        details = usage.get("input_tokens_details") or {}
        text_in = int(details.get("text_tokens", usage.get("input_tokens", 0)) or 0)
        image_in = int(details.get("image_tokens", 0) or 0)
        out = int(usage.get("output_tokens", 0) or 0)
        out_details = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else None
        image_out = int(out_details.get("image_tokens", 0) or 0) if out_details else out
        text_out = int(out_details.get("text_tokens", 0) or 0) if out_details else 0
        cost = (
            pricing.tokens_cost(text_in, rates.get("text_in", 0))
            + pricing.tokens_cost(image_in, rates.get("image_in", 0))
            + pricing.tokens_cost(image_out, rates.get("image_out", 0))
            + pricing.tokens_cost(text_out, rates.get("text_out", rates.get("image_out", 0)))
        )
        return cost, f"usage: {text_in} text in, {image_in} image in, {image_out} image out, {text_out} text out"

    # --- wire ----------------------------------------------------------------

    def _headers(self, content_type: str = "application/json") -> dict[str, str]:
        return {"authorization": f"Bearer {self._key}", "content-type": content_type}

    # Fields of each endpoint, as the SDK's params types define them: the edits endpoint
    # has no `moderation`; `input_fidelity` exists only there. `user` is deprecated:
    # `safety_identifier` carries the (hashed) caller.
    GENERATION_FIELDS = ("quality", "background", "output_format", "output_compression", "moderation", "complexity")
    EDIT_FIELDS = ("quality", "background", "output_format", "output_compression", "complexity", "input_fidelity")

    def generation_body(self, preq: ProviderRequest, fields: tuple[str, ...] = GENERATION_FIELDS) -> dict[str, Any]:
        body: dict[str, Any] = {"model": preq.model, "prompt": preq.prompt, "n": preq.n, "size": preq.wire_size or preq.size}
        for key in fields:
            value = getattr(preq, key)
            if value is not None:
                body[key] = value
        if preq.user:
            body["safety_identifier"] = preq.user
        return body

    def _edit_fields(self, preq: ProviderRequest, stream: bool = False) -> list[tuple[str, Any]]:
        fields: list[tuple[str, Any]] = [
            (k, str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in self.generation_body(preq, self.EDIT_FIELDS).items()
        ]
        if stream:
            fields += [("stream", "true"), ("partial_images", str(preq.partial_images))]
        name = "image[]" if len(preq.images) > 1 else "image"
        fields += [(name, _file(f"image-{i}", img)) for i, img in enumerate(preq.images)]
        # References: every one as `image[]`, in the order the prompt names them (the edits
        # endpoint's documented way of giving several input images).
        fields += [("image[]", _file(f"reference-{i}", img)) for i, img in enumerate(preq.references)]
        if preq.mask is not None:
            fields.append(("mask", _file("mask", preq.mask)))
        return fields

    def _request(self, preq: ProviderRequest, stream: bool = False) -> HttpRequest:
        if preq.is_edit or preq.references:  # references go to the edits endpoint as input images
            body, content_type = multipart.encode(self._edit_fields(preq, stream))
            return HttpRequest("POST", f"{self.base_url}/v1/images/edits", self._headers(content_type), body, self.timeout_s)
        payload = self.generation_body(preq)
        if stream:
            payload |= {"stream": True, "partial_images": preq.partial_images}
        return HttpRequest(
            "POST", f"{self.base_url}/v1/images/generations", self._headers(), json.dumps(payload).encode(), self.timeout_s
        )

    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        response = await self.ctx.http.send(self._request(preq))
        if response.status != 200:
            raise self.error_for(response.status, response.headers, response.body)
        # The answer's bytes go before it is parsed, and each base64 string once decoded
        # (parse_result): of a 12.6 MB answer, one copy at a time besides the images.
        text = http_errors.body_text(response.body)
        del response
        payload = http_errors.json_body(text)
        del text
        return self.parse_result(preq, payload)

    _edit = _generate

    def streams_natively(self, preq: ProviderRequest) -> bool:
        return super().streams_natively(preq) and preq.n == 1  # one stream covers one image

    async def stream(self, preq: ProviderRequest) -> AsyncIterator[ProviderEvent]:
        """Previews as they are drawn, then the result. Without previews asked for,
        or for n > 1 (one stream covers one image), the plain call is used."""
        if not self.streams_natively(preq):
            yield ProviderEvent(kind="result", result=await self.run(preq))
            return
        prefix = "image_edit" if preq.is_edit or preq.references else "image_generation"
        completed: list[dict[str, Any]] = []
        try:
            async for event in self._stream_events(preq, prefix, completed):
                yield event
        except errors.ModelUnavailable as exc:
            self.mark_model_unavailable(preq.model, exc)
            raise
        if not completed:
            raise errors.ProviderBadResponse("openai stream ended without a completed image", provider=self.name)
        usage = completed[-1].get("usage")
        merged = {"data": [{"b64_json": c.get("b64_json")} for c in completed], "output_format": completed[-1].get("output_format"),
                  "size": completed[-1].get("size"), "usage": usage}
        yield ProviderEvent(kind="result", result=self.parse_result(preq, merged))

    async def _stream_events(self, preq: ProviderRequest, prefix: str, completed: list[dict[str, Any]]) -> AsyncIterator[ProviderEvent]:
        async with self.ctx.http.stream(self._request(preq, stream=True)) as response:
            if response.status != 200:
                raise self.error_for(response.status, response.headers, await response.aread())
            try:
                async for event in sse.parse(response.aiter_bytes()):
                    payload = self._event_payload(event)
                    kind = payload.get("type") or event.event
                    if kind == f"{prefix}.partial_image":
                        image = self._image(payload.get("b64_json"), payload, preq)
                        yield ProviderEvent(kind="partial_image", image=image, index=int(payload.get("partial_image_index") or 0))
                    elif kind == f"{prefix}.completed":
                        completed.append(payload)
            except sse.SseTooLarge as exc:
                raise errors.ProviderBadResponse(f"openai stream: {exc}", provider=self.name) from exc

    def _event_payload(self, event: sse.SseEvent) -> dict[str, Any]:
        try:
            payload = json.loads(event.data)
        except ValueError as exc:
            raise errors.ProviderBadResponse(f"openai sent an unreadable {event.event} event", provider=self.name) from exc
        if not isinstance(payload, dict):
            raise errors.ProviderBadResponse("openai sent a stream event that is not an object", provider=self.name)
        if event.event == "error" or payload.get("type") == "error" or (
            isinstance(payload.get("error"), dict) and "b64_json" not in payload
        ):
            body = json.dumps({"error": payload.get("error") or payload}).encode()
            code = (payload.get("error") or {}).get("code") if isinstance(payload.get("error"), dict) else None
            if code in ("moderation_blocked", "content_policy_violation"):
                raise self.error_for(400, {}, body)
            raise errors.ProviderUnavailable(
                f"openai stream failed: {http_errors.error_message(body)[0] or 'error event'}", provider=self.name
            )
        return payload

    async def probe(self) -> dict[str, Any]:
        """GET the model: checks reachability and the key, generates nothing."""
        request = HttpRequest("GET", f"{self.base_url}/v1/models/{self.capabilities.default_model}",
                              {"authorization": f"Bearer {self._key}"}, None, 10.0)
        return await self.probe_request(request, lambda r: self.error_for(r.status, r.headers, r.body))

    def error_for(self, status: int, headers: dict[str, str], body: bytes) -> errors.ProviderError:
        message, err = http_errors.error_message(body)
        code = err.get("code") or err.get("type")
        if code in QUOTA_CODES:
            return errors.ProviderQuotaExhausted(f"openai: the account is out of quota or over its billing limit: {message}",
                                                 provider=self.name, details={"http_status": status, "provider_code": code})
        if code in MODEL_GONE_CODES or (status == 404 and err.get("param") == "model"):
            return errors.ModelUnavailable(f"openai: the model is not available: {message}", provider=self.name,
                                           details={"http_status": status, "provider_code": code})
        if err.get("code") in ("moderation_blocked", "content_policy_violation"):
            details = {"provider_code": err.get("code")}
            if isinstance(err.get("moderation_details"), dict):
                details["moderation"] = err["moderation_details"]
            return errors.ProviderRefused(f"openai refused the request: {message}", provider=self.name, details=details)
        return http_errors.from_status(self.name, status, headers, body, retry_after_s=http_errors.retry_after_ms(headers))

    def parse_result(self, preq: ProviderRequest, payload: dict[str, Any] | None) -> ProviderResult:
        if payload is None or not isinstance(payload.get("data"), list) or not payload["data"]:
            raise errors.ProviderBadResponse("openai answered 200 without image data", provider=self.name)
        images = [self._image(item.pop("b64_json", None) if isinstance(item, dict) else None, payload, preq)
                  for item in payload["data"]]
        table = self.estimate(preq).cost_micros
        usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
        cost, basis = self.actual_cost(preq.model, usage, table)
        flat_usage = {k: v for k, v in usage.items() if isinstance(v, int)}
        return ProviderResult(images=images, model=preq.model, cost_micros=cost, cost_basis=basis,
                              size=images[0].width and f"{images[0].width}x{images[0].height}", usage=flat_usage)

    def _image(self, b64: Any, meta: dict[str, Any], preq: ProviderRequest) -> GeneratedImage:
        data = decode_image(self.name, b64)
        fmt = meta.get("output_format") or preq.output_format or "png"
        size = str(meta.get("size") or preq.size)
        w, h = sizes.parse(size) if "x" in size else sizes.parse(preq.size)
        return GeneratedImage(data, _CONTENT_TYPES.get(fmt, "image/png"), w, h)


def _file(stem: str, image: InputImage) -> multipart.FilePart:
    ext = EXTENSIONS.get(image.content_type, "png")
    return multipart.FilePart(f"{stem}.{ext}", image.content_type, image.data)


def build(ctx: ProviderContext) -> OpenAIProvider | None:
    return OpenAIProvider(ctx) if ctx.settings.get("OPENAI_API_KEY") else None
