"""Batches and async jobs over HTTP: submit (202 at once), poll, and an SSE stream
of a batch's progress. The work itself runs in the queue consumer."""

from __future__ import annotations

from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from .. import errors, webhook_targets
from ..generation import batch_status, batches
from ..models import GenerationRequest
from ..economy.routing import Lane
from ..services import Services
from ..auth import ownership
from ..auth.keys import Principal
from .deps import current_principal, get_services, require_scope, require_token
from .params import IdPath
from .sse import KEEPALIVE, KEEPALIVE_S, frame as _frame

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["batches"])



def _webhook(s: Services, request: Request, url: str | None) -> str | None:
    """The webhook URL as it will be called, or 422 when it is not a public https endpoint."""
    if url is None:
        return None
    policy = webhook_targets.policy_for(s.settings, request.url.hostname)
    try:
        return webhook_targets.checked(url, policy)
    except webhook_targets.BadTarget as exc:
        raise errors.InvalidRequest(str(exc), details={"field": "webhook_url"}) from None


WEBHOOK_DOC = ("POSTed (signed) when the {what} ends; a public https URL (no IP literal of a private, loopback or"
               " link-local range, no local name; redirects are not followed)")
LaneField = Field(default="standard", description=(
    "standard: our own calls now; economy: the providers' batch APIs at the batch price, results within the"
    " provider's window (items no batch API serves run standard, with a warning); economy_only: refuse those instead"))


class BatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[GenerationRequest] = Field(min_length=1, max_length=batches.MAX_ITEMS)
    lane: Lane = LaneField
    caller: str | None = Field(default=None, max_length=128)
    webhook_url: str | None = Field(default=None, max_length=2000, description=WEBHOOK_DOC.format(what="batch"))


class JobBody(GenerationRequest):
    lane: Lane = LaneField
    webhook_url: str | None = Field(default=None, max_length=2000, description=WEBHOOK_DOC.format(what="job"))


@router.post("/batches", status_code=202, summary="Queue many generations; answers at once with the batch id")
async def create_batch(body: BatchBody, request: Request, principal: Principal = Depends(require_scope("generate")),
                       s: Services = Depends(get_services)) -> JSONResponse:
    caller = principal.acting_caller(body.caller)
    items = [item.model_copy(update={"caller": item.caller or caller}) for item in body.items]
    batch_id = await batches.submit(s, principal, items, kind="batch", caller=caller,
                                    webhook_url=_webhook(s, request, body.webhook_url),
                                    lane=body.lane, idempotency_key=request.headers.get("idempotency-key"))
    return JSONResponse({"id": batch_id, "status": "queued", "total": len(body.items), "lane": body.lane, "status_url": f"/v1/batches/{batch_id}",
                         "events_url": f"/v1/batches/{batch_id}/events"}, status_code=202,
                        headers={"Location": f"/v1/batches/{batch_id}"})


@router.get("/batches/{batch_id}", summary="A batch: per-item status, results and errors")
async def get_batch(batch_id: IdPath, request: Request, s: Services = Depends(get_services)) -> dict[str, Any]:
    return await _visible(s, request, batch_id)


async def _visible(s: Services, request: Request, batch_id: str, kind: str = "batch") -> dict[str, Any]:
    """The batch, if this key may see its caller's data (else the same 404 as an unknown id)."""
    await ownership.batch(s.db, await current_principal(request), batch_id, kind)
    return await batch_status.batch_view(s, batch_id)


@router.get("/batches/{batch_id}/events", summary="The batch's progress as Server-Sent Events")
async def batch_events(batch_id: IdPath, request: Request, s: Services = Depends(get_services)) -> StreamingResponse:
    first = await _visible(s, request, batch_id)  # a 404 before the stream starts
    return StreamingResponse(_watch(s, batch_id, first), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/jobs", status_code=202, summary="Run one generation asynchronously: 202 and the id to poll")
async def create_job(body: JobBody, request: Request, principal: Principal = Depends(require_scope("generate")),
                     s: Services = Depends(get_services)) -> JSONResponse:
    item = GenerationRequest.model_validate(body.model_dump(exclude={"webhook_url", "lane"}, exclude_unset=True))
    job_id = await batches.submit(s, principal, [item], kind="job", caller=principal.acting_caller(item.caller),
                                  webhook_url=_webhook(s, request, body.webhook_url), lane=body.lane,
                                  idempotency_key=request.headers.get("idempotency-key"))
    return JSONResponse({"id": job_id, "status": "queued", "lane": body.lane, "status_url": f"/v1/jobs/{job_id}"}, status_code=202,
                        headers={"Location": f"/v1/jobs/{job_id}"})


@router.get("/jobs/{job_id}", summary="An async job: its status, then the generation's result or error")
async def get_job(job_id: IdPath, request: Request, s: Services = Depends(get_services)) -> dict[str, Any]:
    view = await _visible(s, request, job_id, "job")
    return batch_status.job_view(view)


async def _watch(s: Services, batch_id: str, view: dict[str, Any]) -> AsyncIterator[bytes]:
    """`batch` (a snapshot), then `item` whenever an item changes, then `completed`.
    D1 is polled: the consumer runs in another invocation, maybe another isolate."""
    yield _frame("batch", {k: v for k, v in view.items() if k != "items"} | {"items": _brief(view)})
    seen = {i["index"]: i["status"] for i in view["items"]}
    quiet = 0.0
    while view["status"] != "completed":
        await s.clock.sleep(s.settings.progress_interval_s)
        view = await batch_status.batch_view(s, batch_id)
        changed = [i for i in view["items"] if seen.get(i["index"]) != i["status"]]
        for i in changed:
            seen[i["index"]] = i["status"]
            # The batch's counts as of this item, not the poll's final totals: several items may
            # change between two polls, and a progress bar must step through each of them.
            yield _frame("item", {"batch_id": batch_id, "counts": _counts(seen), "total": view["total"], **i})
        quiet = 0.0 if changed else quiet + s.settings.progress_interval_s
        if quiet >= KEEPALIVE_S:
            quiet = 0.0
            yield KEEPALIVE
    yield _frame("completed", view)


def _counts(statuses: dict[int, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def _brief(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"index": i["index"], "status": i["status"], "request_id": i["request_id"]} for i in view["items"]]
