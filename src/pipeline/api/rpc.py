"""The service-binding surface: what `entry.Default`'s RPC methods call.

Plain dicts in and out (they cross the RPC boundary as structured clones):
`{"ok": True, "result": ...}` or `{"ok": False, "error": {code, message, ...}}`,
the same error shape the HTTP API sends."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from pydantic import ValidationError

from .. import errors
from .catalog_views import estimates, providers_view
from ..models import GenerationRequest
from ..generation.generation import Generation
from ..storage.results import to_result
from ..services import Services
from ..storage.store import Store


async def _guard(call: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    try:
        return {"ok": True, "result": await call()}
    except errors.ImageWorkerError as exc:
        return {"ok": False, "error": exc.to_dict()}
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or "payload", "message": e["msg"]} for e in exc.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return {"ok": False, "error": errors.InvalidRequest(message, details={"errors": problems}).to_dict()}


def _request(payload: Any) -> GenerationRequest:
    if not isinstance(payload, dict):
        raise errors.InvalidRequest("payload must be an object with at least a 'prompt'")
    return GenerationRequest.model_validate(payload)


async def generate(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    """Generate (or edit) and wait for the stored result."""
    return await _guard(lambda: Generation(services, _request(payload)).result())


async def get_generation(services: Services, request_id: str) -> dict[str, Any]:
    async def load() -> dict[str, Any]:
        row = await Store(services.db, services.clock).get_request(str(request_id))
        if row is None:
            raise errors.NotFound(f"no generation {request_id!r}")
        return to_result(row, services.settings.public_base_url)

    return await _guard(load)


async def estimate(services: Services, payload: dict[str, Any]) -> dict[str, Any]:
    return await _guard(lambda: estimates(services, _request(payload)))


async def providers(services: Services) -> dict[str, Any]:
    return await _guard(lambda: providers_view(services))
