"""Types at the edges: what callers send and what they get back (HTTP, RPC, SSE).

Money is integer micro-dollars (`*_micros`: 1_000_000 = $1). Times are UTC ISO
strings. Unknown fields are rejected so a typo fails loudly instead of being
ignored."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .limits import MAX_INLINE_BASE64_CHARS, MAX_INLINE_IMAGE_BYTES

Quality = Literal["low", "medium", "high", "xhigh", "max", "auto"]
Background = Literal["transparent", "opaque", "auto"]
OutputFormat = Literal["png", "jpeg", "webp", "gif", "svg"]  # gif and svg are refused with the reason
Moderation = Literal["low", "auto"]
Status = Literal["pending", "running", "succeeded", "failed", "refused"]
EntityType = Literal["character", "location", "scene", "item", "other"]

# ASCII digits only: Python's `\d` also takes other scripts' digits, JSON Schema's does not.
_SIDE = r"(?:6[4-9]|[7-9][0-9]|[1-9][0-9]{2}|[1-7][0-9]{3}|80[0-9]{2}|81[0-8][0-9]|819[0-2])"  # 64..8192
SIZE_PATTERN = rf"^(?:auto|{_SIDE}x{_SIDE})$"
RATIO_PATTERN = r"^[1-9][0-9]{0,2}:[1-9][0-9]{0,2}$"
# Some character that is not white space, white space as JSON Schema (ECMA-262 `\s`) counts it,
# so the schema and the server agree on what a blank prompt is.
PROMPT_PATTERN = "[^\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
def whole_number(value: Any) -> Any:
    """JSON Schema's integers include 2213.0 (a number whose fraction is zero): it is read as
    2213. Anything else stays as given for the strict integer check: 2213.5, "2213" and true
    are still refused, and money stays an int. From 2**52 up a float has no room for a
    fraction (what was written may have had one), so such a number must be written as an integer."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**52:
        return int(value)
    return value


_SIZE = re.compile(SIZE_PATTERN)
_RATIO = re.compile(RATIO_PATTERN)
_TOO_MUCH_INLINE = (f"inline images may total {MAX_INLINE_IMAGE_BYTES // (1024 * 1024)} MiB; upload larger ones "
                    "first (POST /v1/uploads) and pass upload_id")
# Names a caller chooses (entity ids, roles, callers): any text but control characters (NUL
# included), so every stored name prints and compares as written.
LABEL_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_MODEL_ID = re.compile(r"^@?[a-z0-9][a-z0-9_.:/-]{0,127}$")
MAX_MICROS = 2**53 - 1  # money beyond this is not exact in JSON numbers or the Durable Object's JS side


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one(*names: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these is given (not null)", which a validator enforces."""
    return {"oneOf": [{"required": [n], "properties": {n: {"type": "string"}}} for n in names]}


class ImageInput(_Strict):
    """A source image for an edit: an image this service made, an upload, or inline bytes.
    Inline images are for small inputs (limits.py); upload larger ones first (POST /v1/uploads)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_exactly_one("image_id", "upload_id", "data_base64"))

    image_id: str | None = Field(default=None, max_length=64, pattern=LABEL_PATTERN, description="an image this service generated")
    upload_id: str | None = Field(default=None, max_length=64, pattern=LABEL_PATTERN,
                                  description="an image uploaded with POST /v1/uploads")
    data_base64: str | None = Field(default=None, description="base64 bytes (no data: prefix); all inline images "
                                    f"together at most {MAX_INLINE_IMAGE_BYTES // (1024 * 1024)} MiB decoded",
                                    json_schema_extra={"maxLength": MAX_INLINE_BASE64_CHARS})
    content_type: Literal["image/png", "image/jpeg", "image/webp"] | None = Field(
        default=None, description="ignored: the type is read from the bytes")

    @field_validator("data_base64")
    @classmethod
    def _inline_size(cls, v: str | None) -> str | None:
        if v is not None and len(v) > MAX_INLINE_BASE64_CHARS:
            raise ValueError(_TOO_MUCH_INLINE)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ImageInput:
        if sum(v is not None for v in (self.image_id, self.upload_id, self.data_base64)) != 1:
            raise ValueError("give exactly one of image_id, upload_id or data_base64")
        return self


class EntityRef(_Strict):
    entity_type: EntityType
    entity_id: str = Field(min_length=1, max_length=200, pattern=LABEL_PATTERN)
    role: str = Field(default="image", min_length=1, max_length=64, pattern=LABEL_PATTERN)


ReferenceUsage = Literal["subject", "style", "scene"]
MAX_REFERENCES = 16  # the most any catalog model takes (catalog: max_references); each model's own limit applies


class ReferenceInput(_Strict):
    """An entity whose approved primary image the model is shown as a reference
    (the same character, place or item in a new image)."""

    entity_type: EntityType
    entity_id: str = Field(min_length=1, max_length=200, pattern=LABEL_PATTERN,
                           description="the request's caller's entity (entities belong to a caller)")
    role: str | None = Field(default=None, min_length=1, max_length=64, pattern=LABEL_PATTERN,
                             description="whose primary image: default `portrait`, or the entity's only primary")
    usage: ReferenceUsage = Field(default="subject", description="subject (characters, items), style or scene (locations)")


class ReferenceUsed(BaseModel):
    """A reference a request was sent: the entity, the primary's role and the image used."""

    entity_type: EntityType
    entity_id: str
    role: str
    usage: ReferenceUsage
    image_id: str | None = Field(default=None, description="null: the entity had no approved primary (allow_missing_references)")


# What `_coherent` enforces, said in the schema: a mask needs images; size or aspect_ratio, not both.
_COHERENT = {"allOf": [
    {"if": {"required": ["mask"], "properties": {"mask": {"type": "object"}}},
     "then": {"required": ["images"], "properties": {"images": {"minItems": 1}}}},
    {"not": {"required": ["images", "references"],
             "properties": {"images": {"minItems": 1}, "references": {"minItems": 1}}}},
    {"not": {"required": ["size", "aspect_ratio"],
             "properties": {"size": {"type": "string", "not": {"const": "auto"}}, "aspect_ratio": {"type": "string"}}}},
]}


ContextKind = Literal["portrait", "location", "scene", "item"]


class NarrativeContext(_Strict):
    """Story context turned into the prompt by a template per kind (enrich.py)."""

    kind: ContextKind
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    setting: str | None = Field(default=None, max_length=2000)
    era: str | None = Field(default=None, max_length=200)
    mood: str | None = Field(default=None, max_length=500)
    style: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=4000)


class ContextRef(_Strict):
    """A linked entity whose stored context (PUT /v1/entities/{type}/{id}/context) is used."""

    entity_type: EntityType
    entity_id: str = Field(min_length=1, max_length=200, pattern=LABEL_PATTERN)


class GenerationRequest(_Strict):
    """One call: generate `n` images from a prompt, or edit the given `images`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_COHERENT)

    prompt: str = Field(min_length=1, max_length=32000, json_schema_extra={"pattern": PROMPT_PATTERN})
    provider: str | None = Field(default=None, json_schema_extra={"pattern": _NAME.pattern},
                                 description="explicit provider name, or null/'auto'")
    model: str | None = Field(default=None, json_schema_extra={"pattern": _MODEL_ID.pattern})
    fallback: bool | None = Field(
        default=None, strict=True, description="may other providers be tried on a transient failure (default: only in auto mode)"
    )
    try_open_provider: bool = Field(
        default=False, strict=True,
        description="call the named provider even while its circuit breaker is open (docs/providers.md); "
                    "by default such a request is answered 503 provider_circuit_open at once, with Retry-After")
    # Patterns in the schema only: the validators below give the clearer message.
    size: str | None = Field(default=None, json_schema_extra={"pattern": SIZE_PATTERN},
                             description="'WxH' or 'auto'; the nearest supported size is used")
    aspect_ratio: str | None = Field(default=None, json_schema_extra={"pattern": RATIO_PATTERN}, description="'W:H', e.g. '16:9'")
    quality: Quality | None = None
    n: int = Field(default=1, ge=1, le=10, strict=True)  # strict: "2", 2.5 and true are not a count
    background: Background | None = None
    output_format: OutputFormat | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100, strict=True)
    moderation: Moderation | None = None
    complexity: Literal["low", "medium", "high"] | None = Field(
        default=None, description="planning effort, independent of quality (OpenAI GPT Image 2.x)")
    input_fidelity: Literal["high", "low"] | None = Field(default=None, description="edits: only models that take it")
    person_generation: Literal["allow_all", "allow_adult", "dont_allow"] | None = Field(
        default=None, description="Gemini and Imagen: whether people may be drawn")
    caller: str | None = Field(default=None, min_length=1, max_length=128, pattern=LABEL_PATTERN,
                               description="app or user the request is made for")
    max_cost_per_image_micros: int | None = Field(default=None, ge=0, le=MAX_MICROS, strict=True)
    images: list[ImageInput] = Field(default_factory=list, max_length=16)
    mask: ImageInput | None = None
    links: list[EntityRef] = Field(default_factory=list, max_length=50)
    references: list[ReferenceInput] = Field(
        default_factory=list, max_length=MAX_REFERENCES,
        description="entities whose approved primary images are sent as reference images (not with `images`)")
    allow_missing_references: bool = Field(
        default=False, strict=True, description="an entity without an approved primary: a warning instead of a 422")
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="retrying with the same key (per caller) returns the first request instead of paying twice; "
        "over HTTP the Idempotency-Key header sets it",
    )
    context: NarrativeContext | None = Field(default=None, description="narrative context enriching the prompt")
    context_ref: ContextRef | None = Field(default=None, description="use this entity's stored context")
    enrich: bool = Field(default=True, strict=True, description="false: send the prompt as written, context or not")

    @field_validator("n", "output_compression", "max_cost_per_image_micros", mode="before")
    @classmethod
    def _whole(cls, v: Any) -> Any:
        return whole_number(v)  # a validator here, not in the field type, keeps the bounds in the document

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        if not re.search(PROMPT_PATTERN, v):
            raise ValueError("prompt must not be blank")
        return v

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is None or v == "auto":
            return v
        if not _SIZE.fullmatch(v):  # fullmatch: `$` alone lets a trailing newline through
            raise ValueError("size must be 'auto' or 'WIDTHxHEIGHT' with sides between 64 and 8192")
        return v

    @field_validator("aspect_ratio")
    @classmethod
    def _ratio(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _RATIO.fullmatch(v):
            raise ValueError("aspect_ratio must look like '16:9'")
        return v

    @field_validator("provider")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.fullmatch(v):  # fullmatch: `$` lets a trailing newline through
            raise ValueError("must be a lower-case name like 'openai' or 'gemini'")
        return v

    @field_validator("model")
    @classmethod
    def _model_id(cls, v: str | None) -> str | None:
        # catalog ids, including Workers AI's '@cf/<vendor>/<model>'
        if v is not None and not _MODEL_ID.fullmatch(v):
            raise ValueError("must be a catalog model id (GET /v1/providers lists them)")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> GenerationRequest:
        if self.mask is not None and not self.images:
            raise ValueError("mask given without images to edit")
        if self.context is not None and self.context_ref is not None:
            raise ValueError("give context or context_ref, not both")
        if self.size not in (None, "auto") and self.aspect_ratio is not None:
            raise ValueError("give size or aspect_ratio, not both")
        if self.references and self.images:
            raise ValueError("give images (an edit) or references (a new image), not both")
        keys = [(r.entity_type, r.entity_id, r.role) for r in self.references]
        if len(set(keys)) != len(keys):
            raise ValueError("references: the same entity and role is named twice")
        inline = sum(len(i.data_base64 or "") for i in [*self.images, *([self.mask] if self.mask else [])])
        if inline > MAX_INLINE_BASE64_CHARS:
            raise ValueError(_TOO_MUCH_INLINE)
        return self

    @property
    def is_edit(self) -> bool:
        return bool(self.images)

    @property
    def wants_auto(self) -> bool:
        return self.provider in (None, "auto")


class ErrorBody(BaseModel):
    code: str
    message: str
    retryable: bool = False
    provider: str | None = None
    retry_after_s: float | None = None
    details: dict[str, Any] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ImageOut(BaseModel):
    id: str
    url: str = Field(description="the original: absolute (PUBLIC_BASE_URL, else the request's origin)")
    thumbnail_url: str | None = Field(default=None, description="the `thumb` preset variant (256x256, WebP/AVIF by Accept)")
    index: int
    content_type: str
    byte_size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    approval_status: str | None = None


class AttemptOut(BaseModel):
    provider: str
    model: str
    outcome: str
    error_code: str | None = None
    latency_ms: int | None = None
    cost_micros: int = 0


class GenerationResult(BaseModel):
    id: str
    status: Status
    kind: Literal["generate", "edit"]
    prompt: str
    caller: str
    requested_provider: str | None = None
    provider: str | None = None
    model: str | None = None
    size: str | None = None
    quality: str | None = None
    n: int
    images: list[ImageOut] = Field(default_factory=list)
    estimated_cost_micros: int | None = None
    actual_cost_micros: int | None = None
    warnings: list[str] = Field(default_factory=list)
    attempts: list[AttemptOut] = Field(default_factory=list)
    links: list[EntityRef] = Field(default_factory=list)
    references: list[ReferenceUsed] = Field(default_factory=list, description="the reference images the request was sent")
    error: ErrorBody | None = None
    created_at: str
    completed_at: str | None = None
    context: dict[str, Any] | None = None
    sent_prompt: str | None = Field(default=None, description="the prompt the provider got (after enrichment)")


class Estimate(BaseModel):
    provider: str
    model: str
    cost_micros: int
    basis: str = Field(description="how the figure was reached, e.g. 'table: medium 1024x1024 x1'")
    size: str | None = None
    quality: str | None = None
    warnings: list[str] = Field(default_factory=list)
    lane: Literal["standard", "economy"] = "standard"
    standard_cost_micros: int | None = Field(default=None, description="economy lane: the standard price beside the batch price")
    window_s: int | None = Field(default=None, description="economy lane: how long the provider promises to take")
    lane_note: str | None = None


class EstimateResponse(BaseModel):
    lane: Literal["standard", "economy"] = "standard"
    auto_pick: str | None
    estimates: list[Estimate]
    unavailable: dict[str, str] = Field(default_factory=dict, description="provider -> why it cannot serve")


EventType = Literal["accepted", "attempt", "retry", "progress", "partial_image", "image", "completed", "failed"]


class Event(BaseModel):
    """One step of a generation, as sent over SSE (`event:` is `type`)."""

    type: EventType
    request_id: str
    data: dict[str, Any] = Field(default_factory=dict)
