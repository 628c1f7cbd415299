"""Dependencies shared by every router: the services and the API token check.

Both are `async def`: FastAPI runs a plain `def` dependency in a thread pool, and
the Workers runtime has no threads (every route would answer 500)."""

from __future__ import annotations

import hmac

from fastapi import Request

from ..errors import Unauthorized
from ..services import Services
from .rpc import TRUSTED


async def get_services(request: Request) -> Services:
    return request.app.state.services


async def require_token(request: Request) -> None:
    """Bearer `API_TOKEN` when one is configured (always on Cloudflare; optional locally)."""
    if request.scope.get(TRUSTED):
        return  # the service binding (rpc.py): only code bound to this Worker can reach it
    settings = (await get_services(request)).settings
    token = settings.api_token
    if token is None:
        if settings.require_token:
            # Fail closed: an open API on the internet would spend real money for anyone.
            raise Unauthorized("this Worker has no API_TOKEN configured; set it with `wrangler secret put API_TOKEN`")
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized("missing or wrong API token (send 'Authorization: Bearer <API_TOKEN>')")
