"""OpenAI's Images API shapes, and their translation to and from ours.

Requests (`images.generate`, `images.edit`) become a `GenerationRequest`, so the
budget, fallbacks, storage and links apply exactly as on `/v1/generations`.
Results become OpenAI's `ImagesResponse` and stream events, with what OpenAI has
no field for (request id, provider, cost, warnings) under `image_worker`."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from .. import errors
from ..limits import MAX_INLINE_BASE64_CHARS
from ..models import LABEL_PATTERN, PROMPT_PATTERN, RATIO_PATTERN, SIZE_PATTERN, Background, EntityRef, GenerationRequest, ImageInput, Moderation
from ..providers.registry import ProviderRegistry
from .form import FormPart

OpenAIQuality = Literal["low", "medium", "high", "auto", "standard", "hd", "xhigh", "max"]
# OpenAI's DALL-E quality names as the nearest quality our providers take; xhigh and max pass
# through (the catalog says which models take them; others answer with a warning).
_QUALITY = {"standard": "medium", "hd": "high"}
_FORMAT_OF_TYPE = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
_DATA_URL = re.compile(r"^data:(image/(?:png|jpeg|webp));base64,(.*)$", re.DOTALL)
_OWN_IMAGE_URL = re.compile(r"/v1/images/(img_[A-Za-z0-9_-]+)$")


# What `_image_input` takes: a data: URL of a PNG, JPEG or WebP, or this Worker's image URL.
IMAGE_URL_PATTERN = r"^(?:data:image/(?:png|jpeg|webp);base64,[\s\S]*|[^?#]*/v1/images/img_[A-Za-z0-9_-]+(?:[?#][\s\S]*)?)$"


class OpenAIImageRef(BaseModel):
    """An input image of a JSON edit: a data: URL, this service's image URL, or an image id."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": [n], "properties": {n: {"type": "string"}}} for n in ("image_url", "image_id")]})
    image_url: str | None = Field(default=None, pattern=IMAGE_URL_PATTERN, max_length=MAX_INLINE_BASE64_CHARS + 64,
                                  description="data:image/...;base64,... or this Worker's /v1/images/{id} URL")
    image_id: str | None = Field(default=None, max_length=64, pattern=LABEL_PATTERN,
                                 description="an image stored by this Worker (extension)")
    file_id: None = Field(default=None, description="OpenAI file ids are not supported here: always null")


class OpenAIImagesRequest(BaseModel):
    """`POST /v1/images/generations` (JSON) and the fields of `/v1/images/edits`.

    OpenAI's fields, plus the Worker's own (`fallback`, `aspect_ratio`,
    `max_cost_per_image_micros`, `links`), which the OpenAI SDKs send via `extra_body`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"not": {  # size or aspect_ratio, as models.py
        "required": ["size", "aspect_ratio"],
        "properties": {"size": {"type": "string", "not": {"const": "auto"}}, "aspect_ratio": {"type": "string"}}}})
    prompt: str = Field(min_length=1, max_length=32000, json_schema_extra={"pattern": PROMPT_PATTERN})
    model: str | None = Field(default=None, max_length=128, description="'auto', a provider name, or one of a provider's models")
    n: StrictInt | None = Field(default=None, ge=1, le=10)
    size: str | None = Field(default=None, pattern=SIZE_PATTERN)
    quality: OpenAIQuality | None = None
    response_format: Literal["url", "b64_json"] | None = Field(default=None, description="default b64_json")
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: StrictInt | None = Field(default=None, ge=0, le=100)
    background: Background | None = None
    moderation: Moderation | None = None
    stream: StrictBool | None = None
    partial_images: StrictInt | None = Field(default=None, ge=0, le=3)
    style: Literal["vivid", "natural"] | None = Field(default=None, description="DALL-E 3 only; ignored, with a warning")
    input_fidelity: Literal["high", "low"] | None = Field(default=None, description="edits; ignored, with a warning")
    user: str | None = Field(default=None, max_length=256, description="accepted for compatibility; not stored")
    safety_identifier: str | None = Field(default=None, max_length=256, description="accepted; not stored")
    # The Worker's extensions.
    fallback: StrictBool | None = None
    aspect_ratio: str | None = Field(default=None, pattern=RATIO_PATTERN)
    max_cost_per_image_micros: StrictInt | None = Field(default=None, ge=0, le=9_007_199_254_740_991)
    links: list[EntityRef] = Field(default_factory=list, max_length=50)


class OpenAIEditRequest(OpenAIImagesRequest):
    """`POST /v1/images/edits` sent as JSON (OpenAI's newer form); multipart edits send files instead."""

    images: list[OpenAIImageRef] = Field(min_length=1, max_length=16)
    mask: OpenAIImageRef | None = None


class OpenAIImage(BaseModel):
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    id: str | None = Field(default=None, description="the stored image's id (extension)")


class OpenAIImagesResponse(BaseModel):
    created: int
    data: list[OpenAIImage]
    background: Literal["transparent", "opaque"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    quality: Literal["low", "medium", "high"] | None = None
    size: str | None = None
    image_worker: dict[str, Any] = Field(description="request_id, provider, model, cost_micros, warnings")


def resolve_model(registry: ProviderRegistry, model: str | None) -> tuple[str | None, str | None]:
    """OpenAI's `model` as (provider, model): 'auto' or none, a provider name, or a provider's model."""
    if model in (None, "", "auto"):
        return None, None
    if model in registry.providers:
        return model, None
    for name, provider in registry.providers.items():
        if model in provider.capabilities.models:
            return name, model
    known = ", ".join(["auto", *registry.names()])
    # The code /v1/generations answers for a model no configured provider has: one mistake, one code.
    raise errors.UnsupportedByProvider(
        f"model {model!r} is not served here; use {known}, or a model one of them lists at /v1/providers",
        details={"field": "model"},
    )


def _image_input(ref: OpenAIImageRef, field: str) -> ImageInput:
    if ref.image_id is not None and ref.image_url is None:
        return ImageInput(image_id=ref.image_id)
    url = ref.image_url or ""
    if m := _DATA_URL.match(url):
        return ImageInput(data_base64=m[2], content_type=m[1])
    if m := _OWN_IMAGE_URL.search(url.split("?", 1)[0]):
        return ImageInput(image_id=m[1])
    # Fetching arbitrary URLs would let a caller make the Worker request anything.
    raise errors.InvalidRequest(f"{field}: give a data:image/...;base64 URL or this Worker's image URL", details={"field": field})


def to_generation_request(registry: ProviderRegistry, body: OpenAIImagesRequest, *, edit_inputs: list[ImageInput] | None = None,
                          mask: ImageInput | None = None) -> tuple[GenerationRequest, list[str]]:
    """Our request for an OpenAI one, and warnings for what was accepted but cannot be honoured."""
    provider, model = resolve_model(registry, body.model)
    inputs = list(edit_inputs or [])
    inputs += [_image_input(r, f"images[{i}]") for i, r in enumerate(getattr(body, "images", None) or [])]
    if mask is None and getattr(body, "mask", None) is not None:
        mask = _image_input(body.mask, "mask")
    warnings = [f"{name} is not supported and was ignored" for name in ("style", "input_fidelity") if getattr(body, name)]
    fields: dict[str, Any] = {
        "prompt": body.prompt, "provider": provider, "model": model, "n": body.n or 1, "size": body.size,
        "quality": _QUALITY.get(body.quality or "", body.quality), "background": body.background,
        "output_format": body.output_format, "output_compression": body.output_compression,
        "moderation": body.moderation, "fallback": body.fallback, "aspect_ratio": body.aspect_ratio,
        "max_cost_per_image_micros": body.max_cost_per_image_micros, "links": body.links,
        "images": inputs, "mask": mask,
    }
    return GenerationRequest.model_validate({k: v for k, v in fields.items() if v is not None}), warnings


# --- multipart edits ---------------------------------------------------------

_FORM_INTS = ("n", "output_compression", "partial_images", "max_cost_per_image_micros")
_FORM_BOOLS = ("stream", "fallback")
_FORM_FILES = {"image": "images", "image[]": "images", "mask": "mask"}


def _form_value(part: FormPart) -> Any:
    text = part.text()
    if part.name in _FORM_INTS:
        if not re.fullmatch(r"\d{1,16}", text):
            raise errors.InvalidRequest(f"{part.name} must be a whole number", details={"field": part.name})
        return int(text)
    if part.name in _FORM_BOOLS:
        if text not in ("true", "false"):
            raise errors.InvalidRequest(f"{part.name} must be true or false", details={"field": part.name})
        return text == "true"
    return text


def _file_input(part: FormPart, field: str) -> ImageInput:
    if not part.value:
        raise errors.InvalidRequest(f"{field} is empty", details={"field": field})
    # The declared type is ignored: SDKs often send application/octet-stream, and bytes are what count.
    return ImageInput(data_base64=base64.b64encode(part.value).decode())


def from_form(parts: list[FormPart]) -> tuple[OpenAIImagesRequest, list[ImageInput], ImageInput | None]:
    """An OpenAI multipart edit as (fields, input images, mask)."""
    fields: dict[str, Any] = {}
    inputs: list[ImageInput] = []
    mask = None
    for part in parts:
        target = _FORM_FILES.get(part.name)
        if target == "images":
            inputs.append(_file_input(part, f"image[{len(inputs)}]"))
        elif target == "mask":
            mask = _file_input(part, "mask")
        elif part.name in fields:
            raise errors.InvalidRequest(f"form field {part.name!r} given twice", details={"field": part.name})
        else:
            fields[part.name] = _form_value(part)
    if not inputs:
        raise errors.InvalidRequest("an edit needs at least one image", details={"field": "image"})
    return OpenAIImagesRequest.model_validate(fields), inputs, mask


def decode_b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


# --- results -----------------------------------------------------------------

def output_format(content_type: str | None) -> str:
    return _FORMAT_OF_TYPE.get(content_type or "", "png")


def extension(result: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    return {"request_id": result["id"], "provider": result.get("provider"), "model": result.get("model"),
            "cost_micros": result.get("actual_cost_micros"), "warnings": [*result.get("warnings", []), *warnings]}


def images_response(result: dict[str, Any], b64: dict[str, str], created: int, background: str | None,
                    warnings: list[str]) -> dict[str, Any]:
    """OpenAI's ImagesResponse for a stored result; `b64` maps image id -> base64 (empty for url format)."""
    images = result["images"]
    quality = result.get("quality")
    return {
        "created": created,
        "data": [{"id": i["id"], "url": i["url"], "thumbnail_url": i.get("thumbnail_url"), **({"b64_json": b64[i["id"]]} if i["id"] in b64 else {})} for i in images],
        "background": background if background in ("transparent", "opaque") else None,
        "output_format": output_format(images[0]["content_type"]) if images else None,
        "quality": quality if quality in ("low", "medium", "high") else None,
        "size": result.get("size"),
        "image_worker": extension(result, warnings),
    }


def stream_event(prefix: str, kind: str, *, b64: str, created: int, background: str | None, fmt: str,
                 quality: str | None, size: str | None, index: int | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """`image_generation.partial_image` / `.completed` (or `image_edit.*`), as the SDK types define them."""
    event: dict[str, Any] = {
        "type": f"{prefix}.{kind}", "b64_json": b64, "created_at": created,
        "background": background or "auto", "output_format": fmt,
        "quality": quality if quality in ("low", "medium", "high") else "auto", "size": size or "auto",
    }
    if kind == "partial_image":
        event["partial_image_index"] = index or 0
    else:
        # Only OpenAI bills by tokens; other providers have none to report.
        event["usage"] = {"input_tokens": 0, "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
                          "output_tokens": 0, "total_tokens": 0}
    if extra:
        event["image_worker"] = extra
    return event
