"""`POST /v1/uploads`: store a source image for edits, too large to send inline.

The body is the image's bytes (Content-Type image/png, image/jpeg or image/webp);
its type is judged by its bytes, not the header. At most `limits.MAX_UPLOAD_BYTES`:
a larger Content-Length is refused before the body is read, and reading stops as
soon as the limit is passed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from .. import errors, inspect_image, limits
from ..services import Services
from ..storage.uploads import put_upload
from ..auth.keys import Principal
from .deps import get_services, require_scope

router = APIRouter(prefix="/v1", tags=["uploads"])


class PayloadTooLarge(errors.InvalidRequest):
    status = 413
    code = "payload_too_large"


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"an upload may be at most {cap} bytes", details={"max_bytes": cap})
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/uploads", status_code=201, summary="Upload a source image for edits (raw bytes in the body)",
    openapi_extra={"requestBody": {"required": True, "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                                 for t in ("image/png", "image/jpeg", "image/webp")}}},
)
async def create_upload(request: Request, caller: str | None = Query(None, min_length=1, max_length=128,
                                                                    description="admin keys only: upload for this caller"),
                        principal: Principal = Depends(require_scope("generate")),
                        s: Services = Depends(get_services)) -> JSONResponse:
    """Answers the upload's id: pass it as `images[].upload_id` (or `mask.upload_id`) in an edit
    made by the same caller (an upload is private to its caller)."""
    data = await _read_capped(request, limits.MAX_UPLOAD_BYTES)
    if not data:
        raise errors.InvalidRequest("the body is empty: send the image's bytes")
    try:
        content_type, width, height = inspect_image.inspect(data)
    except inspect_image.BadImage as exc:
        raise errors.InvalidRequest(f"the body is not a usable image: {exc}") from None
    row = await put_upload(s.db, s.objects, s.clock, caller=principal.acting_caller(caller), data=data,
                           content_type=content_type, width=width, height=height)
    body: dict[str, Any] = {k: v for k, v in row.items() if k != "r2_key"}
    return JSONResponse(body, status_code=201, headers={"Location": f"/v1/uploads/{row['id']}"})
