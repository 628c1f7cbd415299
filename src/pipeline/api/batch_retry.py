"""`POST /v1/batches/{id}/retry`: a new batch of the failed items of a finished one.

The items run again as they were asked (same bodies), through the one admission path as
the key that asks for the retry, under new idempotency keys: the old keys would replay
the stored failures."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from .. import errors
from ..auth import ownership
from ..auth.keys import Principal
from ..generation import batch_status, batches
from ..models import GenerationRequest
from ..services import Services
from ..storage import batches as rows
from .deps import get_services, require_scope
from .params import IdPath

router = APIRouter(prefix="/v1", tags=["batches"])


@router.post("/batches/{batch_id}/retry", status_code=202,
             summary="Queue the failed items of a batch again, as a new batch")
async def retry_failed(
    batch_id: IdPath,
    include_refused: bool = Query(False, description="also retry items a provider refused (safety)"),
    principal: Principal = Depends(require_scope("generate")),
    s: Services = Depends(get_services),
) -> JSONResponse:
    await ownership.batch(s.db, principal, batch_id)
    view = await batch_status.batch_view(s, batch_id)
    failed = [i for i in view["items"] if i["status"] in ("failed", "refused")
              and (include_refused or (i["error"] or {}).get("code") != "provider_refused")]
    if not failed:
        raise errors.Conflict(f"batch {batch_id!r} has no failed items to retry", details={"counts": view["counts"]})
    caller = principal.acting_caller(view["caller"])
    items: list[GenerationRequest] = []
    for item in failed:
        row = await rows.item(s.db, batch_id, item["index"])
        body: dict[str, Any] = json.loads(row["body"]) if row else {}
        body.pop("idempotency_key", None)
        items.append(GenerationRequest.model_validate(body).model_copy(update={"caller": body.get("caller") or caller}))
    lane = "standard" if view.get("lane") == "standard" else "economy"  # its lane, never refused as economy_only
    new_id = await batches.submit(s, principal, items, kind="batch", caller=caller, webhook_url=None, lane=lane)
    return JSONResponse({"id": new_id, "status": "queued", "total": len(items), "retry_of": batch_id,
                         "retried": [i["index"] for i in failed], "status_url": f"/v1/batches/{new_id}",
                         "events_url": f"/v1/batches/{new_id}/events"},
                        status_code=202, headers={"Location": f"/v1/batches/{new_id}"})
