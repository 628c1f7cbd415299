"""The review console and the offline API docs: static pages the app serves itself.

`GET /console` is one page (index.html + console.js + console.css) that works only
through the public HTTP API, with the reviewer's key in the browser's session
storage. `GET /docs` is a compact viewer of `/openapi.json` (docs.js), so the docs
need no CDN. The files are read once, at import (they land in the Worker's
snapshot); each is served with a strong ETag, and the page names its scripts by
content hash, so they can be cached for a year."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from .. import errors

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8"}
_FILES = ("console.js", "console.css", "docs.js")  # what /console/{name} may serve: nothing else


def _asset(name: str) -> Asset:
    body = (_HERE / name).read_bytes()
    return Asset(body, _TYPES[Path(name).suffix], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


ASSETS = {name: _asset(name) for name in _FILES}


def _page(name: str) -> Asset:
    """An HTML page with `{{name}}` replaced by the asset's versioned URL."""
    text = (_HERE / name).read_text()
    for asset_name, asset in ASSETS.items():
        text = text.replace("{{" + asset_name + "}}", f"/console/{asset_name}?v={asset.etag.strip(chr(34))}")
    body = text.encode()
    return Asset(body, _TYPES[".html"], '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


PAGES = {"console": _page("index.html"), "docs": _page("docs.html")}

# The pages load only their own scripts; images may come from PUBLIC_BASE_URL or a signed URL,
# previews arrive as data: URLs. No inline script, no framing.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: https: http:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
_PAGE_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
                 "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}

router = APIRouter(include_in_schema=False)


def _serve(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    headers = {**headers, "ETag": asset.etag}
    if asset.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/")
async def home() -> RedirectResponse:
    """A person opening the Worker's address lands on the console (a relative redirect:
    never built from the Host header)."""
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
async def console_page(request: Request) -> Response:
    return _serve(request, PAGES["console"], _PAGE_HEADERS)


@router.get("/console/{name}")
async def console_asset(name: str, request: Request) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise errors.NotFound(f"no console file {name!r}")
    # Versioned by the page (?v=<hash>): the same URL never changes content.
    cache = "public, max-age=31536000, immutable" if request.query_params.get("v") == asset.etag.strip('"') \
        else "public, max-age=300"
    return _serve(request, asset, {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})


@router.get("/docs")
async def docs_page(request: Request) -> Response:
    return _serve(request, PAGES["docs"], _PAGE_HEADERS)
