"""Dependencies shared by every router: the services, who is calling, and scope checks.

The caller of a request is resolved once, from its key, by `authenticate`
(the request middleware does it before the body is read; the dependencies
reuse that answer). Routes then ask `require_scope("generate" | "read" | "admin")`.

All are `async def`: FastAPI runs a plain `def` dependency in a thread pool, and
the Workers runtime has no threads (every route would answer 500)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from fastapi import Request

from ..auth.keys import PREFIX, Principal, admin_principal, key_principal, same_secret
from ..errors import Unauthorized
from ..services import Services
from ..storage.keys import KeyStore

_MISSING = "missing API key (send 'Authorization: Bearer <key>')"
# ASGI scope key set only on in-process calls from the service binding (rpc.py); no HTTP
# client can set it. Code bound to this Worker is trusted: it may act for any caller.
TRUSTED = "image_worker.trusted"


async def get_services(request: Request) -> Services:
    return request.app.state.services


def services_of(app: Any) -> Services:
    return app.state.services


def bearer(authorization: str | None) -> str | None:
    scheme, _, given = (authorization or "").partition(" ")
    given = given.strip()
    return given if scheme.lower() == "bearer" and given else None


async def authenticate(s: Services, authorization: str | None, trusted: bool = False) -> Principal | None:
    """The principal for an `Authorization` header (or the service binding, `trusted`);
    None when none was sent and one is needed; Unauthorized for a wrong, revoked or expired key."""
    settings = s.settings
    if trusted:
        return admin_principal(settings.default_caller, "service_binding")
    secret = bearer(authorization)
    if secret is None:
        if authorization:
            raise Unauthorized("the Authorization header must be 'Bearer <key>'")
        if settings.api_token is None and not settings.require_token:
            # Local development without any token: an open API acting as the default caller.
            return admin_principal(settings.default_caller, "open")
        return None
    # The legacy single token stays an admin key, so existing deployments keep working.
    if settings.api_token is not None and same_secret(secret, settings.api_token):
        return admin_principal(settings.default_caller, "api_token")
    if settings.api_token is None and not settings.require_token and not secret.startswith(PREFIX):
        # The open local server: a token sent anyway (SDKs always send one) is not a key of ours.
        return admin_principal(settings.default_caller, "open")
    if secret.startswith(PREFIX):
        row = await KeyStore(s.db, s.clock).find_live(secret)
        if row is not None:
            return key_principal(row)
    raise Unauthorized("wrong, revoked or expired API key")


def no_key_message(s: Services) -> str:
    if s.settings.api_token is None and s.settings.require_token:
        return _MISSING + "; this Worker has no API_TOKEN either: set it with `wrangler secret put API_TOKEN`"
    return _MISSING


async def current_principal(request: Request) -> Principal:
    """Who is calling (401 when nobody is). Resolved at most once per request."""
    state: Any = request.state
    if not getattr(state, "principal_resolved", False):
        state.principal = await authenticate(services_of(request.app), request.headers.get("authorization"),
                                             bool(request.scope.get(TRUSTED)))
        state.principal_resolved = True
    if state.principal is None:
        raise Unauthorized(no_key_message(services_of(request.app)))
    return state.principal


# Each scope-checking dependency -> the scope it asks of a request with a given method: the
# route table (route_table.py) reads the scopes of every route from here, by the function.
SCOPE_CHECKS: dict[Callable[..., Any], Callable[[str], str]] = {}


def require_scope(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller's principal, if its key has `scope` (403 otherwise)."""

    async def check(request: Request) -> Principal:
        principal = await current_principal(request)
        principal.require(scope)
        return principal

    SCOPE_CHECKS[check] = lambda _method: scope
    return check


def _by_method(method: str) -> str:
    return "read" if method in ("GET", "HEAD") else "generate"


# For whole routers: reading needs `read`, anything else `generate`. Routes that change money,
# prices, keys or approvals add require_scope("admin").
async def require_token(request: Request) -> Principal:
    principal = await current_principal(request)
    principal.require(_by_method(request.method))
    return principal


SCOPE_CHECKS[require_token] = _by_method
