"""The `Allow` header of a 405: every method the path serves, not only those of the
first route that matched it (Starlette's answer when several routes share a path).

Read from the OpenAPI document, so `Allow` and the document cannot disagree (the
router's own route objects are FastAPI internals that change between versions)."""

from __future__ import annotations

import re
from typing import Any

_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def _template(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + r"\Z")


def allowed_methods(app: Any, path: str) -> str | None:
    paths = app.openapi().get("paths", {})
    # A literal path (/v1/images/edits) is its own resource, not an instance of /v1/images/{image_id}.
    items = [paths[path]] if path in paths else [item for t, item in paths.items() if _template(t).match(path)]
    methods = {m.upper() for item in items for m in item if m in _METHODS}
    if "GET" in methods:
        methods.add("HEAD")  # the Gate serves HEAD wherever GET is served
    return ", ".join(sorted(methods)) or None
