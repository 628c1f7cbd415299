"""The HTTP app, built: the routers (each resource's in its own module; routes.py holds
health, generations, providers and estimates), the one error shape for every failure,
the access middleware and the OpenAPI document.

The same app runs inside the Worker (through `workers.asgi`) and under uvicorn
locally; `app.state.services` is set by whoever serves it."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import errors
from .generations import router as generations_router
from .routes import router
from .image_access import router as image_router
from .keys import router as keys_router
from .middleware import Cors, Gate, RequestLog
from .allow import allowed_methods
from .budget import router as budget_router
from . import openapi_doc
from .prices import router as prices_router
from .links import router as links_router
from .references import router as references_router
from .approval import router as approval_router
from .batches import router as batches_router
from .batch_retry import router as batch_retry_router
from ..console.routes import router as console_router
from .prompts import router as prompts_router
from .openai_compat import router as openai_router
from .uploads import router as uploads_router
from ..services import Services

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
