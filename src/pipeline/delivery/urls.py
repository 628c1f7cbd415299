"""Image URLs as results carry them: absolute, from PUBLIC_BASE_URL, else the origin of
the request being answered (set per request by the API middleware), else relative
(an RPC call or a queue consumer has no origin of its own: set PUBLIC_BASE_URL)."""

from __future__ import annotations

import contextvars
from urllib.parse import urlencode

from . import spec as specs

_origin: contextvars.ContextVar[str] = contextvars.ContextVar("request_origin", default="")


def set_origin(origin: str) -> None:
    """The current request's `scheme://host[:port]` (tasks it starts inherit it)."""
    _origin.set(origin.rstrip("/"))


def base(public_base_url: str) -> str:
    return public_base_url or _origin.get()


def image_url(public_base_url: str, image_id: str, **query: str) -> str:
    url = f"{base(public_base_url)}/v1/images/{image_id}"
    return f"{url}?{urlencode(query)}" if query else url


def thumbnail_url(public_base_url: str, image_id: str) -> str:
    return image_url(public_base_url, image_id, preset=specs.THUMBNAIL_PRESET)
