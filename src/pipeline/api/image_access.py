"""`GET /v1/images/{id}` (public, signed, or with a key) and signed URLs for it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from .. import errors
from ..auth import signing
from ..auth.keys import Principal
from ..services import Services
from ..storage import images
from ..storage.results import image_url
from .deps import current_principal, get_services, require_scope

router = APIRouter(prefix="/v1", tags=["images"])

IMG_ID = r"^img_[0-9A-HJKMNP-TV-Z]{26}$"
_HIDDEN = ("rejected",)  # approval states whose images are never served


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or any listed tag equal under weak comparison."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in [t.removeprefix("W/") for t in tags]


async def _image_row(s: Services, image_id: str) -> dict[str, Any]:
    row = await s.db.first(
        "SELECT i.*, r.caller AS caller FROM images i JOIN generation_requests r ON r.id = i.request_id WHERE i.id = ?",
        (image_id,),
    )
    if row is None or row.get("approval") in _HIDDEN:
        raise errors.NotFound(f"no image {image_id!r}")
    return row


@router.get(
    "/images/{image_id}",
    summary="The image bytes: public by id, or with a signed URL, or with a key (when PUBLIC_IMAGES is false)",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}, 304: {"description": "unchanged"}},
)
async def get_image(
    image_id: str,
    request: Request,
    expires: int | None = Query(None, ge=0, le=2**53 - 1, description="signed URL: expiry, Unix seconds"),
    signature: str | None = Query(None, pattern=r"^[0-9a-f]{64}$", description="signed URL: HMAC-SHA256"),
    s: Services = Depends(get_services),
) -> Response:
    access = s.settings.access
    row = await _image_row(s, image_id)
    if row.get("approval_status") == "rejected":  # a rejected image is never served, signed URL or not
        raise errors.NotFound(f"no image {image_id!r}")
    signed = expires is not None and signature is not None and access.image_url_secret is not None
    if signed:
        if not signing.verify(access.image_url_secret, image_id, expires, signature, s.clock.now().timestamp()):
            raise errors.Unauthorized("this signed image URL is wrong or has expired")
        cache = f"private, max-age={max(0, int(expires - s.clock.now().timestamp()))}"
    elif access.public_images:
        cache = "public, max-age=31536000, immutable"
    else:
        principal = await current_principal(request)
        principal.require("read")
        if not principal.sees(row["caller"]):
            raise errors.NotFound(f"no image {image_id!r}")
        cache = "private, max-age=3600"
    etag = f'"{row["sha256"]}"'
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    stored = await images.get_image_bytes(s.objects, row["r2_key"])
    if stored is None:
        raise errors.NotFound(f"image {image_id!r} is recorded but its bytes are missing from storage")
    return Response(stored.body, media_type=row["content_type"], headers=headers)


@router.get("/images/{image_id}/signed-url", summary="A short-lived URL for `<img src>`, usable without a key")
async def signed_url(
    image_id: str,
    ttl_s: int | None = Query(None, ge=1, le=7 * 86400, description="lifetime (default SIGNED_URL_TTL_S)"),
    principal: Principal = Depends(require_scope("read")),
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    access = s.settings.access
    if access.image_url_secret is None:
        raise errors.InvalidRequest("signed URLs need IMAGE_URL_SECRET (or API_TOKEN) to be set")
    row = await _image_row(s, image_id)
    if not principal.sees(row["caller"]):
        raise errors.NotFound(f"no image {image_id!r}")
    expires = int(s.clock.now().timestamp()) + (ttl_s or access.signed_url_ttl_s)
    url = f"{image_url(s.settings.public_base_url, image_id)}?{signing.signed_query(access.image_url_secret, image_id, expires)}"
    return {"url": url, "expires": expires}
