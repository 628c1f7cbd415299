"""The core routes: health, generations (create, stream, read), providers, estimates.
The other resources have their own modules (generations.py lists and deletes)."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field

from .. import errors
from .. import ownership
from ..auth.keys import Principal
from ..delivery.results import to_result
from ..generation.admission import admit
from ..generation.generation import Generation
from ..generation.inputs import check_inputs
from ..models import ErrorResponse, EstimateResponse, GenerationRequest, GenerationResult
from ..queued.economy import routing as economy_routing
from ..queued.economy.routing import Lane
from ..services import Services
from ..storage.store import Store
from .catalog_views import estimates, providers_view
from .deps import get_services, require_scope, require_token
from .params import IdPath
from .sse import KEEPALIVE, frame as _frame
from .streaming import detached_events

_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 402, 403, 404, 409, 422, 429, 502, 503, 504)}

router = APIRouter(prefix="/v1", responses=_ERRORS)
authed = [Depends(require_token)]


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
