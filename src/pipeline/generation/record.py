"""Recording a generation's outcome: images to R2, one D1 batch, then the ledger.

Order matters for "nothing orphaned": the R2 objects are written first, then
the D1 batch that records them. If the isolate dies in between, the objects'
keys are derived from the request id (storage/images.py), so the maintenance
job removes them when it marks the request abandoned (maintenance.py). The
writes themselves, and what happens when storage gives up, are every lane's
(outcome.py); this module is what a generation's state adds to them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from .. import errors
from ..logs import event as log_event
from ..models import Event
from ..providers.base import ProviderResult
from ..delivery.results import to_result
from ..storage.store import Attempt
from . import outcome, reservation
from .selection import Candidate
from .state import GenerationState


async def store_images(state: GenerationState, candidate: Candidate, result: ProviderResult) -> None:
    """One finished call's images to R2 (outcome.py), their bytes let go after. When R2 gives
    up on one after others of the request were stored, the request keeps those and succeeds
    with fewer (like a call that fails after others finished: calls.py), with a warning; with
    none stored it fails, saying how many paid images were lost."""
    kept = await outcome.put_images(state.s, result.images, request_id=state.request_id, first_index=len(state.stored),
                                    provider=candidate.name, model=result.model, deadline=state.deadline)
    state.stored.extend(kept.rows)
    if kept.error is None:
        return
    if state.stored:  # some paid images are kept: succeed with them, say what was lost
        result.warnings.append(outcome.lost_warning(kept.lost, kept.error.code))
        return
    state.lost_images = kept.lost
    kept.error.details["billed_images_lost"] = kept.lost  # what the client reads
    raise kept.error


async def store_success(state: GenerationState, candidate: Candidate, attempt: int, results: list[ProviderResult],
                        latency_ms: int) -> AsyncIterator[Event]:
    """The succeeded row (images, attempt, usage, links) in one D1 batch, the ledger
    settled, then `image` events and `completed`."""
    result = results[0]
    for more in results[1:]:
        result = result.merge(more)
    rows = state.stored  # written to R2 as each call ended (calls.py)
    success = outcome.Success(
        state.request_id, candidate.name, result.model, result.size or candidate.preq.size, rows,
        Attempt(state.request_id, candidate.name, result.model, attempt, "succeeded", images=len(rows),
                filtered=result.filtered, cost_micros=result.cost_micros, usage=result.usage, latency_ms=latency_ms),
        charged_micros=state.spent_micros,  # this attempt and any earlier billed ones
        warnings=outcome.warnings_of(candidate.preq.warnings, result, candidate.name),
        links=outcome.links_of(state.req))
    try:
        await outcome.record_success(state.s, state.store, success, deadline=state.deadline)
    except errors.StorageUnavailable:  # the images stay in R2 for the cron (outcome.py)
        state.kept_for_recovery = True
        raise
    state.finished = True
    if result.cost_micros > candidate.estimate.cost_micros:
        log_event(logging.WARNING, "estimate_overrun", request_id=state.request_id, provider=candidate.name,
                  estimate_micros=candidate.estimate.cost_micros, actual_micros=result.cost_micros)
    await reservation.settle(state, {"provider": candidate.name, "model": result.model, "images": len(rows)})
    result_dict = await load_result(state)
    for image in result_dict["images"]:
        yield state.event("image", image=image)
    yield state.event("completed", result=result_dict)


async def finish_unsuccessfully(state: GenerationState, exc: BaseException) -> None:
    """Any exit but success: the row terminal (`refused` or `failed`), images stored
    before the failure deleted, and the reservation settled or released."""
    if isinstance(exc, errors.ImageWorkerError):
        error = exc.to_dict()
    elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
        error = {"code": "cancelled", "message": "the caller went away before the generation finished"}
    else:
        error = {"code": "internal_error", "message": f"unexpected {type(exc).__name__}"}
    try:
        if not state.finished:
            await _record_failure(state, outcome.failure_status(exc), error)
    finally:
        await reservation.close_failed(state, error["code"])


async def _record_failure(state: GenerationState, status: str, error: dict[str, Any]) -> None:
    """The row terminal, charged what was spent (outcome.py). If D1 cannot be written the
    images stay, and the cron's sweep removes them, or records them when the request is one
    whose success batch gave up (its images are intact: recovery.py)."""
    if state.kept_for_recovery and state.stored:
        return  # not failed, not deleted: the stale-request sweep finishes it from R2
    lost = state.lost_images
    failure = outcome.Failure(state.request_id, status, error, charged_micros=state.spent_micros,
                              warnings=[outcome.lost_warning(lost)] if lost else None)
    try:
        await outcome.record_failure(state.s, state.store, failure, state.stored)
    except errors.ImageWorkerError as failed:  # D1 is down: the cron finishes the row
        log_event(logging.ERROR, "failure_unrecorded", request_id=state.request_id, code=error["code"],
                  spent_micros=state.spent_micros, error=failed.code)


async def load_result(state: GenerationState) -> dict[str, Any]:
    """The request's result as the API returns it: built from what this generation wrote
    (no read-back of the rows it just wrote), else read from D1 (a replay)."""
    row = state.store.written(state.request_id) or await state.store.get_request(state.request_id)
    assert row is not None
    return to_result(row, state.s.settings.public_base_url)
