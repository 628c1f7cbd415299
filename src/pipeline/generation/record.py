"""Recording a generation's outcome: images to R2, one D1 batch, then the ledger.

Order matters for "nothing orphaned": the R2 objects are written first, then
the D1 batch that records them. If the isolate dies in between, the objects'
keys are derived from the request id (storage/images.py), so the maintenance
job removes them when it marks the request abandoned (maintenance.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from .. import errors
from ..logs import event as log_event
from ..models import Event
from ..providers.base import ProviderResult
from ..storage import images
from ..storage.results import to_result
from ..storage.store import Attempt
from . import reservation, storage_retry
from .selection import Candidate
from .state import GenerationState


async def store_images(state: GenerationState, candidate: Candidate, result: ProviderResult) -> None:
    """One finished call's images to R2, one at a time (its bytes are let go after). When R2
    gives up on one after others of the request were stored, the request keeps those and
    succeeds with fewer (like a call that fails after others finished: calls.py), with a
    warning; with none stored it fails, saying how many paid images were lost."""
    when = state.s.clock.now()
    policy = storage_retry.policy_for(state.s.settings.retry_base_delay_s)
    for n, image in enumerate(result.images):
        row = images.image_row(image, request_id=state.request_id, index=len(state.stored), provider=candidate.name,
                               model=result.model, when=when)
        try:  # the provider billed it: retried before it is given up (storage_retry.py)
            await storage_retry.durably(state.s.clock, state.deadline, "R2 put",
                                        lambda: images.put_row(state.s.objects, image, row),  # noqa: B023 - awaited in this iteration
                                        request_id=state.request_id, policy=policy)
        except errors.StorageUnavailable as exc:
            if state.stored:  # some paid images are kept: succeed with them, say what was lost
                result.warnings.append(f"{len(result.images) - n} image(s) billed by the provider could not be"
                                       f" stored and were lost ({exc.code})")
                return
            exc.details["billed_images_lost"] = len(result.images) - n
            raise
        state.stored.append(row)


async def store_success(state: GenerationState, candidate: Candidate, attempt: int, results: list[ProviderResult],
                        latency_ms: int) -> AsyncIterator[Event]:
    """The succeeded row (images, attempt, usage, links) in one D1 batch, the ledger
    settled, then `image` events and `completed`."""
    result = results[0]
    for more in results[1:]:
        result = result.merge(more)
    rows = state.stored  # written to R2 as each call ended (calls.py)
    try:
        warnings = list(dict.fromkeys(list(candidate.preq.warnings) + result.warnings))
        if result.filtered:
            warnings.append(f"{result.filtered} image(s) withheld by {candidate.name}'s safety filter")
        await storage_retry.durably(state.s.clock, state.deadline, "D1 batch", lambda: state.store.succeed(
            state.request_id,
            images=rows,
            attempt=Attempt(
                state.request_id, candidate.name, result.model, attempt, "succeeded", images=len(rows),
                filtered=result.filtered, cost_micros=result.cost_micros, usage=result.usage, latency_ms=latency_ms,
            ),
            provider=candidate.name,
            model=result.model,
            size=result.size or candidate.preq.size,
            actual_micros=state.spent_micros,  # this attempt and any earlier billed ones
            warnings=warnings,
            links=[link.model_dump() for link in state.req.links],
            approval_status=state.s.settings.approval_default,
        ), request_id=state.request_id, policy=storage_retry.policy_for(state.s.settings.retry_base_delay_s),
            landed=lambda: _recorded(state))
    except errors.StorageUnavailable as exc:
        # The images are in R2 with their rows in metadata: the row stays `running` and the
        # cron records them (recovery.py), even if D1 answers again in time to mark it failed.
        exc.details["images_kept_for_recovery"] = len(rows)
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
    status = "refused" if isinstance(exc, (errors.BudgetExceeded, errors.CapacityTimeout)) else "failed"
    try:
        if not state.finished:
            await _record_failure(state, status, error)
    finally:
        await reservation.close_failed(state, error["code"])


async def _record_failure(state: GenerationState, status: str, error: dict[str, Any]) -> None:
    """The row terminal, charged what was spent. Images stored but never recorded are deleted
    only once the row is terminal here (nothing may point at them); if D1 cannot be written
    they stay, and the cron's sweep removes them, or records them when the request is one
    whose success batch gave up (its images are intact: recovery.py)."""
    kept = int(error.get("details", {}).get("images_kept_for_recovery", 0))
    if kept and state.stored:
        log_event(logging.ERROR, "success_unrecorded", request_id=state.request_id, images=kept,
                  spent_micros=state.spent_micros)
        return  # not failed, not deleted: the stale-request sweep finishes it from R2
    lost = int(error.get("details", {}).get("billed_images_lost", 0))
    warnings = [f"{lost} image(s) billed by the provider could not be stored and were lost"] if lost else None
    try:
        changed = await state.store.finish_unsuccessfully(state.request_id, status=status, error=error,
                                                          actual_micros=state.spent_micros, warnings=warnings)
    except errors.ImageWorkerError as failure:  # D1 is down: the cron finishes the row
        log_event(logging.ERROR, "failure_unrecorded", request_id=state.request_id, code=error["code"],
                  spent_micros=state.spent_micros, error=failure.code)
        return
    if changed and state.stored:
        await images.delete_images(state.s.objects, state.stored)


async def _recorded(state: GenerationState) -> bool:
    """Whether the success batch landed although its answer was lost."""
    row = await state.store.get_request(state.request_id)
    if row is None or row["status"] != "succeeded":
        return False
    state.store.forget(state.request_id)  # the answer is D1's row, not what this Store last wrote
    return True


async def load_result(state: GenerationState) -> dict[str, Any]:
    """The request's result as the API returns it: built from what this generation wrote
    (no read-back of the rows it just wrote), else read from D1 (a replay)."""
    row = state.store.written(state.request_id) or await state.store.get_request(state.request_id)
    assert row is not None
    return to_result(row, state.s.settings.public_base_url)
