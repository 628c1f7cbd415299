"""OpenAI-compatible Images API: `POST /v1/images/generations` and `/v1/images/edits`.

The official OpenAI SDKs, given this Worker as `base_url` and a key as
`api_key`, generate and edit images here. Each call is an ordinary generation
(budget, fallbacks, R2 + D1, links); only the shapes are OpenAI's."""

from __future__ import annotations

import base64
import json
from contextlib import aclosing
from typing import Any, AsyncIterator

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from .. import errors
from ..auth.keys import Principal
from ..generation.admission import admit
from ..generation.generation import Generation
from .sse import KEEPALIVE, frame as _frame
from .streaming import detached_events
from ..models import ErrorResponse, GenerationRequest
from ..services import Services
from ..storage import images
from ..storage.store import Store
from . import openai_translate as tr
from .deps import get_services, require_scope
from .form import MalformedBody, parse_form

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 402, 404, 409, 422, 429, 502, 503, 504)}
_STREAM_DOC = {"text/event-stream": {"schema": {"type": "string", "description":
               "with stream=true: `image_generation.partial_image` / `.completed` (edits: `image_edit.*`) "
               "events as OpenAI sends them; a failure is an `error` event carrying the error shape"}}}

router = APIRouter(prefix="/v1/images", tags=["openai-compatible"],
                   responses=_ERRORS)


@router.post("/generations", response_model=tr.OpenAIImagesResponse, summary="OpenAI-compatible image generation",
             responses={200: {"content": _STREAM_DOC}})
async def openai_generations(
    request: Request, body: tr.OpenAIImagesRequest = Body(...), s: Services = Depends(get_services),
    principal: Principal = Depends(require_scope("generate")),
) -> Any:
    """OpenAI's `images.generate`: JSON in, `ImagesResponse` (or its stream events) out.
    (`images` and `mask` belong to /v1/images/edits: the body model refuses them.)"""
    try:
        req, warnings = tr.to_generation_request(s.registry, body)
    except ValidationError as exc:  # a combination only our request model judges: 422, not a crash
        raise _invalid(exc) from None
    return await _respond(s, principal, request, body, req, warnings, "image_generation")


_EDIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["image", "prompt"],
                "properties": {
                    "image": {"oneOf": [{"type": "string", "format": "binary"},
                                        {"type": "array", "maxItems": 16, "items": {"type": "string", "format": "binary"}}]},
                    "image[]": {"type": "array", "maxItems": 16, "items": {"type": "string", "format": "binary"}},
                    "mask": {"type": "string", "format": "binary"},
                    "prompt": {"type": "string", "minLength": 1, "maxLength": 32000, "pattern": tr.PROMPT_PATTERN},
                    "model": {"type": "string", "maxLength": 128}, "n": {"type": "integer", "minimum": 1, "maximum": 10},
                    "size": {"type": "string", "pattern": tr.SIZE_PATTERN},
                    "quality": {"type": "string", "enum": list(tr.OpenAIQuality.__args__)}, "stream": {"type": "boolean"},
                    "response_format": {"type": "string", "enum": ["url", "b64_json"]},
                    "output_format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
                    "background": {"type": "string", "enum": ["transparent", "opaque", "auto"]},
                    "partial_images": {"type": "integer", "minimum": 0, "maximum": 3},
                },
            }},
            # Its `$defs` move to components/schemas (openapi_doc.py).
            "application/json": {"schema": tr.OpenAIEditRequest.model_json_schema(
                ref_template="#/components/schemas/{model}")},
        },
    }
}


@router.post("/edits", response_model=tr.OpenAIImagesResponse, summary="OpenAI-compatible image edit",
             responses={200: {"content": _STREAM_DOC}}, openapi_extra=_EDIT_BODY)
async def openai_edits(request: Request, s: Services = Depends(get_services),
                       principal: Principal = Depends(require_scope("generate"))) -> Any:
    """OpenAI's `images.edit`: a multipart form with `image` (or `image[]`) files and
    an optional `mask`, or JSON with `images: [{image_url}]`."""
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    try:
        if content_type.startswith("multipart/form-data"):
            body, inputs, mask = tr.from_form(parse_form(raw, content_type))
        else:
            try:
                payload = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise MalformedBody("body is neither multipart/form-data nor valid JSON") from exc
            body, inputs, mask = tr.OpenAIEditRequest.model_validate(payload), [], None
        del raw  # the form's bytes now live (base64) in the request only
        req, warnings = tr.to_generation_request(s.registry, body, edit_inputs=inputs, mask=mask)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return await _respond(s, principal, request, body, req, warnings, "image_edit")


def _invalid(exc: ValidationError) -> errors.InvalidRequest:
    problems = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]} for e in exc.errors()]
    return errors.InvalidRequest("; ".join(f"{p['field']}: {p['message']}" for p in problems),
                                 details={"errors": problems})


async def _respond(s: Services, principal: Principal, request: Request, body: tr.OpenAIImagesRequest,
                   req: GenerationRequest, warnings: list[str], prefix: str) -> Any:
    generation = admit(s, principal, req, idempotency_header=request.headers.get("idempotency-key"),
                       partial_images=(body.partial_images or 0) if body.stream else 0)
    if body.stream:
        return StreamingResponse(_stream(s, generation, body, warnings, prefix), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Request-Id": generation.request_id})
    result = _absolute_urls(await generation.result(), request)
    b64 = {} if body.response_format == "url" else await _image_b64(s, result["images"])
    created = int(s.clock.now().timestamp())
    return JSONResponse(tr.images_response(result, b64, created, body.background, warnings),
                        headers={"X-Request-Id": result["id"]})


def _absolute_urls(result: dict[str, Any], request: Request) -> dict[str, Any]:
    """OpenAI's `url` is absolute. Without PUBLIC_BASE_URL ours are relative: resolve them
    against the URL this request came in on (only this caller sees the result)."""
    base = str(request.base_url).rstrip("/")
    for image in result["images"]:
        for field in ("url", "thumbnail_url"):
            if (image.get(field) or "").startswith("/"):
                image[field] = base + image[field]
    return result


async def _image_b64(s: Services, stored: list[dict[str, Any]]) -> dict[str, str]:
    store = Store(s.db, s.clock)
    out = {}
    for image in stored:
        out[image["id"]] = await _one_b64(s, store, image["id"])
    return out


async def _one_b64(s: Services, store: Store, image_id: str) -> str:
    row = await store.get_image(image_id)
    found = await images.get_image_bytes(s.objects, row["r2_key"]) if row else None
    if found is None:
        raise errors.NotFound(f"image {image_id!r} is recorded but its bytes are missing from storage")
    return base64.b64encode(found.body).decode()






async def _stream(s: Services, generation: Generation, body: tr.OpenAIImagesRequest, warnings: list[str],
                  prefix: str) -> AsyncIterator[bytes]:
    """OpenAI's stream events for one generation. As on /v1/generations, the generation
    runs in its own task: a caller that leaves does not cancel what is being paid for."""
    store = Store(s.db, s.clock)
    async with aclosing(detached_events(generation)) as events:
        async for item in events:
            if item is None:
                yield KEEPALIVE
            elif isinstance(item, errors.ImageWorkerError):
                yield _frame("error", {"error": item.to_dict()})
            else:
                frame = await _translate(s, store, item, body, warnings, prefix)
                if frame is not None:
                    yield frame


async def _translate(s: Services, store: Store, event: Any, body: tr.OpenAIImagesRequest, warnings: list[str],
                     prefix: str) -> bytes | None:
    created = int(s.clock.now().timestamp())
    common = {"created": created, "background": body.background, "quality": body.quality,
              "size": body.size}
    if event.type == "partial_image":
        data = tr.stream_event(prefix, "partial_image", b64=event.data["b64"], fmt=tr.output_format(event.data.get("content_type")),
                               index=event.data.get("index"), **common)
        return _frame(data["type"], data)
    if event.type == "completed":
        # One `.completed` event per image, once all are stored (our `image` events come
        # just before this one; a replayed request has only this one).
        result = event.data["result"]
        extra = tr.extension(result, warnings)
        return b"".join([await _completed(s, store, image, result, common, prefix, extra) for image in result["images"]])
    return None  # accepted, attempt, retry, image: OpenAI has no such events


async def _completed(s: Services, store: Store, image: dict[str, Any], result: dict[str, Any], common: dict[str, Any],
                     prefix: str, extra: dict[str, Any]) -> bytes:
    fields = {**common, "quality": result.get("quality") or common["quality"], "size": result.get("size") or common["size"]}
    data = tr.stream_event(prefix, "completed", b64=await _one_b64(s, store, image["id"]),
                           fmt=tr.output_format(image["content_type"]), extra={**extra, "image_id": image["id"]}, **fields)
    return _frame(data["type"], data)
