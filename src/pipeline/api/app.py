"""The HTTP API: FastAPI routes, validation, the one error shape, SSE.

The same app runs inside the Worker (through `workers.asgi`) and under uvicorn
locally; `app.state.services` is set by whoever serves it."""

from __future__ import annotations

import math
from contextlib import aclosing
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors
from .deps import get_services, require_scope, require_token
from .generations import router as generations_router
from .image_access import router as image_router
from .keys import router as keys_router
from .middleware import Cors, Gate, RequestLog
from ..auth import ownership
from ..auth.keys import Principal
from .params import IdPath
from .allow import allowed_methods
from .budget import router as budget_router
from . import openapi_doc
from .prices import router as prices_router
from .catalog_views import estimates, providers_view
from .links import router as links_router
from .references import router as references_router
from .approval import router as approval_router
from .batches import router as batches_router
from .batch_retry import router as batch_retry_router
from ..console.routes import router as console_router
from .prompts import router as prompts_router
from .openai_compat import router as openai_router
from .uploads import router as uploads_router
from ..models import ErrorResponse, EstimateResponse, GenerationRequest, GenerationResult
from ..generation.admission import admit
from ..generation.generation import Generation
from ..generation.inputs import check_inputs
from .sse import KEEPALIVE, frame as _frame
from .streaming import detached_events
from ..storage.results import to_result
from ..economy import routing as economy_routing
from ..economy.routing import Lane
from ..services import Services
from ..storage.store import Store

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 402, 403, 404, 409, 422, 429, 502, 503, 504)}

router = APIRouter(prefix="/v1", responses=_ERRORS)
authed = [Depends(require_token)]


def error_response(exc: errors.ImageWorkerError) -> JSONResponse:
    headers = {}
    if exc.retry_after_s is not None and exc.status in (429, 503):
        # Rounded up, never down: a client that waits Retry-After must not come back early.
        # `retry-after-ms` keeps the precision; OpenAI sends it and its SDKs read it first.
        ms = max(1, math.ceil(round(exc.retry_after_s * 1000, 3)))  # round first: 0.1 * 1000 is 100.00000000000001
        headers["Retry-After"] = str(max(1, math.ceil(ms / 1000)))
        headers["retry-after-ms"] = str(ms)
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)


_MAX_PROBLEMS = 20


def _validation_message(exc: RequestValidationError) -> tuple[int, str, list[dict[str, Any]]]:
    problems = []
    status = 422
    # A body with 10^5 unknown keys has 10^5 errors: the first few say what is wrong.
    for e in exc.errors()[:_MAX_PROBLEMS]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        if e.get("type") == "json_invalid":
            status = 400
            problems.append({"field": "body", "message": "body is not valid JSON"})
        else:
            problems.append({"field": loc, "message": e.get("msg", "invalid")})
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    return status, message, problems


def create_app(services: Services | None = None) -> FastAPI:
    """The app. Pass `services` here or set `app.state.services` before serving."""
    app = FastAPI(
        title="Image generation Worker",
        version="0.1.0",
        description="Generate and edit images across providers within a budget; results stored in R2 and D1.",
        redirect_slashes=False,  # a redirect would be built from the Host header
        docs_url=None, redoc_url=None,  # /docs is the console's offline viewer (no CDN)
    )
    if services is not None:
        app.state.services = services

    @app.exception_handler(errors.ImageWorkerError)
    async def _typed(_request: Request, exc: errors.ImageWorkerError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, problems = _validation_message(exc)
        code = "malformed_body" if status == 400 else "invalid_request"
        return JSONResponse({"error": {"code": code, "message": message, "retryable": False,
                                       "details": {"errors": problems}}}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(errors.NotFound("no such route"))
        code = errors.HTTP_CODES.get(exc.status_code, errors.HTTP_ERROR)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (allow := allowed_methods(app, request.url.path)):
            headers["Allow"] = allow
        return JSONResponse({"error": {"code": code, "message": str(exc.detail), "retryable": False}},
                            status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _crash(_request: Request, exc: Exception) -> JSONResponse:
        return error_response(errors.ImageWorkerError(f"internal error ({type(exc).__name__})"))

    app.include_router(router)
    app.include_router(generations_router)
    app.include_router(image_router)
    app.include_router(keys_router)
    app.include_router(links_router)
    app.include_router(references_router)
    app.include_router(budget_router)
    app.include_router(prompts_router)
    app.include_router(approval_router)
    app.include_router(batches_router)
    app.include_router(prices_router)
    app.include_router(uploads_router)
    app.include_router(openai_router)
    app.include_router(batch_retry_router)
    app.include_router(console_router)
    _add_access_middleware(app)
    openapi_doc.install(app)
    return app


def _add_access_middleware(app: FastAPI) -> None:
    """Outermost last: RequestLog(Cors(Gate(app))). Settings are read per request,
    because `app.state.services` may be set after the app is built."""

    def access() -> Any:
        return app.state.services.settings.access

    app.add_middleware(Gate, fastapi_app=app)
    app.add_middleware(Cors, allows=lambda origin: access().allows_origin(origin),
                       enabled=lambda: bool(access().cors_origins))
    app.add_middleware(RequestLog, level=lambda: access().log_level)


@router.get("/health", summary="Liveness; no auth")
async def health(s: Services = Depends(get_services)) -> dict[str, Any]:
    return {"ok": True, "providers": s.registry.names(), **s.settings.public()}


@router.post("/generations", response_model=GenerationResult, summary="Generate or edit images")
async def create_generation(
    body: GenerationRequest,
    request: Request,
    stream: bool = Query(False, description="stream progress as Server-Sent Events"),
    partial_images: int = Query(2, ge=0, le=3, description="previews to stream, where the provider can"),
    principal: Principal = Depends(require_scope("generate")),
    s: Services = Depends(get_services),
) -> Any:
    """Plain JSON: the finished result (or the error, whose details carry `request_id`).
    With `?stream=true` or `Accept: text/event-stream`: events as they happen."""
    wants_sse = stream or "text/event-stream" in request.headers.get("accept", "")
    generation = admit(s, principal, body, idempotency_header=request.headers.get("idempotency-key"),
                       partial_images=partial_images if wants_sse else 0,
                       progress=wants_sse)  # estimated progress where the provider does not stream
    if wants_sse:
        return StreamingResponse(
            _sse(generation), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "X-Request-Id": generation.request_id},
        )
    result = await generation.result()
    headers = {"Location": f"/v1/generations/{result['id']}"}
    if generation.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result, status_code=200 if generation.replayed else 201, headers=headers)




async def _sse(generation: Generation) -> AsyncIterator[bytes]:
    """Events as SSE frames, keep-alive comments while a provider is silent, and a
    final `failed` event (error + stored result) instead of a broken stream. A caller
    that disconnects does not cancel the generation (streaming.py)."""
    async with aclosing(detached_events(generation)) as events:
        async for item in events:
            if item is None:
                yield KEEPALIVE
            elif isinstance(item, errors.ImageWorkerError):
                data: dict[str, Any] = {"request_id": generation.request_id, "error": item.to_dict()}
                row = await _stored_row(generation)
                if row is not None:
                    data["result"] = to_result(row, generation.s.settings.public_base_url)
                yield _frame("failed", data)
            else:
                yield _frame(item.type, {"request_id": item.request_id, **item.data})


async def _stored_row(generation: Generation) -> dict[str, Any] | None:
    """The failed request's row for the `failed` event; None when D1 is what failed (the
    stream has begun: its last frame must still be the error, never a broken stream)."""
    try:
        return await generation.store.get_request(generation.request_id)
    except errors.ImageWorkerError:
        return None


@router.get("/generations/{request_id}", response_model=GenerationResult)
async def get_generation(
    request_id: IdPath, principal: Principal = Depends(require_scope("read")), s: Services = Depends(get_services)
) -> dict[str, Any]:
    await ownership.generation(s.db, principal, request_id)
    row = await Store(s.db, s.clock).get_request(request_id)
    if row is None:
        raise errors.NotFound(f"no generation {request_id!r}")
    return to_result(row, s.settings.public_base_url)


@router.get("/providers", dependencies=authed, summary="Configured providers: capabilities, prices, health")
async def list_providers(probe: bool = Query(False, description="also run each provider's cheap active probe"),
                         s: Services = Depends(get_services)) -> dict[str, Any]:
    return await providers_view(s, probe=probe)


class EstimateBody(GenerationRequest):
    lane: Lane = Field(default="standard", description="economy (or economy_only): the batch price and the provider's window")


@router.post("/estimate", response_model=EstimateResponse, summary="What each provider would charge")
async def estimate(body: EstimateBody, principal: Principal = Depends(require_scope("generate")),
                   s: Services = Depends(get_services)) -> dict[str, Any]:
    req = GenerationRequest.model_validate(body.model_dump(exclude={"lane"}, exclude_unset=True))
    await check_inputs(s, req, principal.acting_caller(req.caller))  # another caller's inputs are not found here either
    answer = await estimates(s, req)
    return answer if body.lane == "standard" else await economy_routing.estimate(s, req, answer)
