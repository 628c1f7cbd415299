"""`GET /v1/images/{id}` (public, signed, or with a key), its variants
(`?width=&height=&fit=&quality=&format=` or `?preset=`), and signed URLs for both.

Who may read an image is decided here and nowhere else (`authorize`): a variant is
readable exactly when its original is; a signed URL names the variant it is for."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from .. import errors
from ..auth import ownership, signing
from ..auth.keys import Principal
from ..delivery import spec as specs
from ..delivery.variants import get_variant
from ..guarded import guarded
from ..services import Services
from ..storage import images, owners
from ..storage.results import image_url
from .deps import current_principal, get_services, require_scope
from .params import IdPath

router = APIRouter(prefix="/v1", tags=["images"])


_HIDDEN = ("rejected",)  # approval states whose images are never served
_IMMUTABLE = "public, max-age=31536000, immutable"


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: `*`, or any listed tag equal under weak comparison."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in [t.removeprefix("W/") for t in tags]


async def _image_row(s: Services, image_id: str) -> dict[str, Any]:
    row = await owners.image(s.db, image_id)
    if row is None or row.get("approval_status") in _HIDDEN:
        raise errors.NotFound(f"no image {image_id!r}")
    return row


async def authorize(s: Services, request: Request, row: dict[str, Any], variant: str | None,
                    expires: int | None, signature: str | None) -> str:
    """The one access decision for an image or one of its variants; returns its Cache-Control.
    A rejected image is never served (`_image_row`), signed URL or not."""
    access = s.settings.access
    image_id = row["id"]
    if expires is not None and signature is not None and access.image_url_secret is not None:
        now = s.clock.now().timestamp()
        if not signing.verify(access.image_url_secret, signing.subject(image_id, variant), expires, signature, now):
            raise errors.Unauthorized("this signed image URL is wrong, for another variant, or has expired")
        return f"private, max-age={max(0, int(expires - now))}"
    if access.public_images:
        return _IMMUTABLE
    principal = await current_principal(request)
    principal.require("read")
    if not ownership.sees(principal, row["caller"]):
        raise errors.NotFound(f"no image {image_id!r}")
    return "private, max-age=3600"


_W = Query(None, ge=1, le=12000, description="variant: width in px (snapped up to 64, 128, 256, 384, 512, 768, 1024, 1536, 2048)")
_H = Query(None, ge=1, le=12000, description="variant: height in px (snapped like width)")
_FIT = Query(None, description="variant: scale-down (default; never enlarges), contain, cover (crops to the box)")
_Q = Query(None, ge=1, le=100, description="variant: quality (snapped to 50, 70, 85, 95; default 85)")
_FMT = Query(None, description="variant: output format; default the best the Accept header allows (AVIF up to 1200 px per side, WebP, else the original's)")
_PRESET = Query(None, description="variant: a named size (thumb 256x256 cover, card 512 wide, hero 1536 wide, full); explicit parameters override it")


async def variant_spec(
    width: int | None = _W,
    height: int | None = _H,
    fit: Literal["scale-down", "contain", "cover"] | None = _FIT,
    quality: int | None = _Q,
    format: Literal["webp", "avif", "jpeg", "png"] | None = _FMT,
    preset: Literal["thumb", "card", "hero", "full"] | None = _PRESET,
) -> specs.VariantSpec | None:
    """The variant the query asks for (both image routes take the same parameters), or None
    for the original."""
    raw = {"width": width, "height": height, "fit": fit, "quality": quality, "format": format, "preset": preset}
    params = {k: None if v is None else str(v) for k, v in raw.items()}
    return specs.parse(params) if specs.wants_variant(params) else None


@router.get(
    "/images/{image_id}",
    summary="The image bytes, or a variant of them: public by id, or with a signed URL, or with a key (when PUBLIC_IMAGES is false)",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}, "image/avif": {}}},
               304: {"description": "unchanged"}},
)
async def get_image(
    image_id: IdPath,
    request: Request,
    expires: int | None = Query(None, ge=0, le=2**53 - 1, description="signed URL: expiry, Unix seconds"),
    signature: str | None = Query(None, pattern=r"^[0-9a-f]{64}$", description="signed URL: HMAC-SHA256"),
    spec: specs.VariantSpec | None = Depends(variant_spec),
    s: Services = Depends(get_services),
) -> Response:
    s = guarded(s)  # D1/R2 failures as storage_unavailable (503, Retry-After)
    row = await _image_row(s, image_id)
    cache = await authorize(s, request, row, spec.name if spec else None, expires, signature)
    if spec is None:
        return await _original(s, request, row, cache)
    if not row.get("width") or not row.get("height"):
        raise errors.InvalidRequest(f"image {image_id} has no recorded size: request the original")
    rendition = specs.resolve(spec, int(row["width"]), int(row["height"]), row["content_type"],
                              request.headers.get("accept"))
    headers = {"Cache-Control": cache}
    if spec.format is None:
        headers["Vary"] = "Accept"  # the format was chosen from Accept
    variant = await get_variant(s, row, rendition)
    headers["ETag"] = f'"{variant.sha256}"'
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(variant.body, media_type=variant.content_type, headers=headers)


async def _original(s: Services, request: Request, row: dict[str, Any], cache: str) -> Response:
    etag = f'"{row["sha256"]}"'
    headers = {"ETag": etag, "Cache-Control": cache}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    stored = await images.get_image_bytes(s.objects, row["r2_key"])
    if stored is None:
        raise errors.NotFound(f"image {row['id']!r} is recorded but its bytes are missing from storage")
    return Response(stored.body, media_type=row["content_type"], headers=headers)


@router.get("/images/{image_id}/signed-url",
            summary="A short-lived URL for `<img src>`, usable without a key; with variant parameters, for that variant only")
async def signed_url(
    image_id: IdPath,
    ttl_s: int | None = Query(None, ge=1, le=7 * 86400, description="lifetime (default SIGNED_URL_TTL_S)"),
    spec: specs.VariantSpec | None = Depends(variant_spec),
    principal: Principal = Depends(require_scope("read")),
    s: Services = Depends(get_services),
) -> dict[str, Any]:
    access = s.settings.access
    if access.image_url_secret is None:
        raise errors.InvalidRequest("signed URLs need IMAGE_URL_SECRET (or API_TOKEN) to be set")
    row = await _image_row(s, image_id)
    if not ownership.sees(principal, row["caller"]):
        raise errors.NotFound(f"no image {image_id!r}")
    expires = int(s.clock.now().timestamp()) + (ttl_s or access.signed_url_ttl_s)
    subject = signing.subject(image_id, spec.name if spec else None)
    query = {**(spec.query() if spec else {}), "expires": str(expires),
             "signature": signing.signature(access.image_url_secret, subject, expires)}
    return {"url": image_url(s.settings.public_base_url, image_id, **query), "expires": expires,
            "variant": spec.name if spec else None}
