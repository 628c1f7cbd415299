"""The `Allow` header of a 405: every method the path serves, not only those of the
first route that matched it (Starlette's answer when several routes share a path)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Match


def allowed_methods(app: Any, scope: dict[str, Any]) -> str | None:
    methods: set[str] = set()
    for route in app.router.routes:
        if getattr(route, "methods", None) and route.matches(scope)[0] != Match.NONE:
            methods |= set(route.methods)
    if "GET" in methods:
        methods.add("HEAD")  # the Gate serves HEAD wherever GET is served
    return ", ".join(sorted(methods)) or None
