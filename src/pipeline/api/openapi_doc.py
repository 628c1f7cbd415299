"""The OpenAPI document, completed where FastAPI cannot see what the server does:
the bearer key, the error answers every route can give (the middleware and the
exception handlers send them, not the route), the Server-Sent Events streams,
and the few statuses a route answers through a JSONResponse of its own.

Data, not code: the tables below say which operation answers what; `complete`
applies them once, when the document is first built. tests/api/test_openapi_schemathesis.py
checks the result against the running server."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}
_REASONS = {
    200: "OK (for a created resource: it was already there)", 201: "Created", 304: "Not modified (If-None-Match)", 400: "Malformed body (not JSON, not UTF-8)",
    401: "Missing, wrong, revoked or expired key",
    402: "Budget exceeded", 403: "The key lacks the scope", 404: "Not found (or not yours)", 409: "Conflict",
    413: "Body too large", 422: "Invalid request", 429: "Rate limited (see Retry-After)", 500: "Internal error",
    502: "Provider error", 503: "Provider unavailable or no capacity", 504: "Provider timed out",
}
# Every route: the Gate refuses a wrong key (401) before the route runs, a body or path that is
# not UTF-8 / JSON is 400, validation is 422, and the catch-all handler answers 500.
_EVERYWHERE = (400, 401, 422, 500)
_KEYED = (403,)  # routes that check a scope
_PUBLIC = {("get", "/v1/health"), ("get", "/v1/images/{image_id}")}  # no key needed
# Statuses a route answers beyond its default success, by (method, path).
_EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/v1/generations"): (201, 402, 404, 409, 429, 502, 503, 504),
    ("post", "/v1/images/generations"): (402, 404, 409, 429, 502, 503, 504),
    ("post", "/v1/images/edits"): (402, 404, 409, 413, 429, 502, 503, 504),
    ("post", "/v1/estimate"): (404,),
    ("post", "/v1/uploads"): (413,),
    ("post", "/v1/links"): (200, 404),
    ("delete", "/v1/links"): (404,),
    ("delete", "/v1/generations/{request_id}"): (409,),
    ("post", "/v1/images/approve"): (404,),
    ("post", "/v1/images/reject"): (404,),
    ("post", "/v1/prompts/preview"): (404,),
    ("post", "/v1/batches"): (402, 404, 409, 503),
    ("post", "/v1/batches/{batch_id}/retry"): (402, 409, 503),
    ("post", "/v1/jobs"): (402, 404, 409, 503),
    ("put", "/v1/entities/{entity_type}/{entity_id}/primary/{role}"): (409,),  # the image is not approved
}
_SUCCESS_AS = {("post", "/v1/generations"): "200"}  # the status whose body the route's model describes
_STREAMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("post", "/v1/generations"): ("accepted", "attempt", "retry", "progress", "partial_image", "image", "completed", "failed"),
    ("post", "/v1/images/generations"): ("image_generation.partial_image", "image_generation.completed", "error"),
    ("post", "/v1/images/edits"): ("image_edit.partial_image", "image_edit.completed", "error"),
    ("get", "/v1/batches/{batch_id}/events"): ("batch", "item", "completed"),
}
BEARER = {"type": "http", "scheme": "bearer", "description": "an API key (POST /v1/keys) or the deployment's API_TOKEN"}


def sse_event(events: tuple[str, ...]) -> dict[str, Any]:
    """One Server-Sent Event as parsed from the stream (OpenAPI 3.1: the schema describes each event)."""
    return {
        "type": "object", "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": list(events)},
            "data": {"type": "string", "contentMediaType": "application/json", "description": "one JSON object"},
            "id": {"type": "string"}, "retry": {"type": "integer", "minimum": 0},
        },
    }


def _error_response(status: int) -> dict[str, Any]:
    return {"description": _REASONS[status], "content": {"application/json": {"schema": _ERROR}}}


def _complete_operation(method: str, path: str, op: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    key = (method, path)
    statuses = [*_EVERYWHERE, *(() if key in _PUBLIC else _KEYED), *_EXTRA.get(key, ())]
    if "requestBody" in op or method in ("post", "put", "patch", "delete"):
        statuses.append(413)  # the Gate's body limit (body_limits.py), before the route runs
    if "{" in path:
        statuses.append(404)
    success = next((code for code in responses if code.startswith("2")), "200")
    for status in statuses:
        if str(status) in responses:
            continue
        if status < 300:  # a second success, answering with the same body as the first
            responses[str(status)] = {**copy.deepcopy(responses[success]), "description": _REASONS[status]}
        else:
            responses[str(status)] = _error_response(status)
    if key in _STREAMS:
        target = responses[_SUCCESS_AS.get(key, success)]
        target.setdefault("content", {})["text/event-stream"] = {"schema": sse_event(_STREAMS[key])}
    if key in _PUBLIC:
        op["security"] = []  # no key needed (a key that is sent is still checked: 401 when wrong)


def _hoist_defs(op: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A request body written as a model's own JSON schema (openapi_extra) carries its `$defs`:
    they belong in components/schemas, where its `$ref`s point."""
    for media in op.get("requestBody", {}).get("content", {}).values():
        for name, schema in media.get("schema", {}).pop("$defs", {}).items():
            schemas.setdefault(name, schema)


# OpenAPI links: what an operation creates, and the operations that read it by the id in
# its answer (`$response.body#/...`). A client (and schemathesis's stateful phase) follows
# them from a created object to its reads, instead of guessing ids that answer 404.
_GEN = "$response.body#/id"
_IMAGE = "$response.body#/images/0/id"
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, str]]] = {
    ("post", "/v1/generations", "201"): {
        "GetGeneration": ("get", "/v1/generations/{request_id}", _GEN),
        "DeleteGeneration": ("delete", "/v1/generations/{request_id}", _GEN),
        "GetImage": ("get", "/v1/images/{image_id}", _IMAGE),
        "SignedUrl": ("get", "/v1/images/{image_id}/signed-url", _IMAGE),
        "ApproveImage": ("post", "/v1/images/{image_id}/approve", _IMAGE),
        "RejectImage": ("post", "/v1/images/{image_id}/reject", _IMAGE),
    },
    ("post", "/v1/keys", "201"): {
        "GetKey": ("get", "/v1/keys/{key_id}", _GEN),
        "RevokeKey": ("delete", "/v1/keys/{key_id}", _GEN),
    },
    ("post", "/v1/batches", "202"): {
        "GetBatch": ("get", "/v1/batches/{batch_id}", _GEN),
        "BatchEvents": ("get", "/v1/batches/{batch_id}/events", _GEN),
        "RetryBatch": ("post", "/v1/batches/{batch_id}/retry", _GEN),
    },
    ("post", "/v1/jobs", "202"): {"GetJob": ("get", "/v1/jobs/{job_id}", _GEN)},
    ("post", "/v1/uploads", "201"): {
        "GetUpload": ("get", "/v1/uploads/{upload_id}", _GEN),
        "GetUploadContent": ("get", "/v1/uploads/{upload_id}/content", _GEN),
    },
}


def _add_links(doc: dict[str, Any]) -> None:
    """Each link names its target by operationId and fills the target's one path parameter."""
    paths = doc.get("paths", {})
    for (method, path, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        found = response.setdefault("links", {})
        for name, (to_method, to_path, value) in links.items():
            target = paths.get(to_path, {}).get(to_method)
            if target is None:
                continue
            param = next(p["name"] for p in target.get("parameters", []) if p.get("in") == "path")
            found[name] = {"operationId": target["operationId"], "parameters": {param: value}}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    doc["security"] = [{"bearer": []}]
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if isinstance(op, dict) and "responses" in op:
                _complete_operation(method, path, op)
                _hoist_defs(op, components.setdefault("schemas", {}))
    _add_links(doc)
    return doc


def install(app: FastAPI) -> None:
    """Build the document once, completed."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the OpenAPI document
