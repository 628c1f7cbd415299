"""Which route a request will reach, and what it needs, known before the app runs.

The Gate (middleware.py) checks a route's scope and body limit before the body is read,
so it must find the route itself. The table is built once per app from the routes
FastAPI will serve (their paths, methods and dependencies), in the router's order."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from starlette.routing import compile_path

from . import body_limits
from .deps import SCOPE_CHECKS


@dataclass(frozen=True)
class RouteInfo:
    path: str  # as declared, e.g. /v1/keys/{key_id}
    methods: frozenset[str]
    regex: re.Pattern[str]
    scopes: dict[str, tuple[str, ...]]  # method -> the scopes its dependencies ask for

    def body_limit(self, method: str) -> int:
        return body_limits.limit_of(body_limits.kind_of(method, self.path))


def required_scopes(dependant: Any, method: str) -> list[str]:
    """Every scope a route's dependencies (its router's included) will ask for, as each
    check says of itself (deps.SCOPE_CHECKS)."""
    found: list[str] = []
    for sub in getattr(dependant, "dependencies", None) or ():
        scope_for = SCOPE_CHECKS.get(sub.call)
        if scope_for is not None:
            found.append(scope_for(method))
        found += required_scopes(sub, method)
    return list(dict.fromkeys(found))


def _served_routes(app: Any) -> Iterable[Any]:
    try:  # FastAPI >= 0.160 includes routers lazily; this yields their routes with the prefix applied
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return app.routes
    return iter_route_contexts(app.routes)


def build(app: Any) -> list[RouteInfo]:
    table = []
    for route in _served_routes(app):
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if not path or not methods:
            continue
        dependant = getattr(route, "dependant", None)
        table.append(RouteInfo(path, frozenset(methods), compile_path(path)[0],
                               {m: tuple(required_scopes(dependant, m)) for m in methods}))
    return table


def table_of(app: Any) -> list[RouteInfo]:
    """The app's table, built on first use (routes do not change once the app serves)."""
    table = getattr(app.state, "route_table", None)
    if table is None:
        table = app.state.route_table = build(app)
    return table


def find(app: Any, method: str, path: str) -> RouteInfo | None:
    """The route that serves `method path`, as the router would pick it; None when none does."""
    for info in table_of(app):
        if method in info.methods and info.regex.match(path):
            return info
    return None


def body_limit(app: Any, method: str, path: str) -> int:
    """The most bytes a request may send, for a host that reads the body before the app
    runs (entry.py). A request no route serves reads no body: the smallest limit."""
    info = find(app, method, path)
    return info.body_limit(method) if info else body_limits.limit_of("json")
