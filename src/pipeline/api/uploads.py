"""Uploads: `POST /v1/uploads` stores a source image for edits, too large to send inline;
`GET /v1/uploads/{id}` (its record) and `GET /v1/uploads/{id}/content` (its bytes) read
it back, for its caller only (or an admin, or the service binding: auth/ownership.py).

The body is the image's bytes (Content-Type image/png, image/jpeg or image/webp);
its type is judged by its bytes, not the header. At most `limits.MAX_UPLOAD_BYTES`:
the Gate (middleware.py, body_limits.py) refuses a larger Content-Length before the
body is read and stops reading as soon as the limit is passed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from .. import errors, inspect_image, limits
from ..services import Services
from ..storage.uploads import put_upload
from ..auth import ownership
from ..auth.keys import Principal
from .deps import get_services, require_scope
from .params import IdPath

router = APIRouter(prefix="/v1", tags=["uploads"])


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "r2_key"}


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
    data = await request.body()
    if len(data) > limits.MAX_UPLOAD_BYTES:  # the Gate cut it already; this holds for any caller
        raise errors.PayloadTooLarge(f"an upload may be at most {limits.MAX_UPLOAD_BYTES} bytes",
                                     details={"max_bytes": limits.MAX_UPLOAD_BYTES})
    if not data:
        raise errors.InvalidRequest("the body is empty: send the image's bytes")
    try:
        content_type, width, height = inspect_image.inspect(data)
    except inspect_image.BadImage as exc:
        raise errors.InvalidRequest(f"the body is not a usable image: {exc}") from None
    row = await put_upload(s.db, s.objects, s.clock, caller=principal.acting_caller(caller), data=data,
                           content_type=content_type, width=width, height=height)
    return JSONResponse(_view(row), status_code=201, headers={"Location": f"/v1/uploads/{row['id']}"})


@router.get("/uploads/{upload_id}", summary="An upload's record: type, size, dimensions, SHA-256")
async def read_upload(upload_id: IdPath, principal: Principal = Depends(require_scope("read")),
                      s: Services = Depends(get_services)) -> dict[str, Any]:
    return _view(await ownership.upload(s.db, principal, upload_id))


@router.get("/uploads/{upload_id}/content", summary="An upload's bytes",
            responses={200: {"content": {t: {"schema": {"type": "string", "format": "binary"}}
                                         for t in ("image/png", "image/jpeg", "image/webp")}}})
async def read_upload_content(upload_id: IdPath, principal: Principal = Depends(require_scope("read")),
                              s: Services = Depends(get_services)) -> Response:
    row = await ownership.upload(s.db, principal, upload_id)
    found = await s.objects.get(row["r2_key"])
    if found is None:
        raise errors.NotFound(f"upload {upload_id!r} is recorded but its bytes are missing from storage")
    return Response(found.body, media_type=row["content_type"],
                    headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{row["sha256"]}"'})
