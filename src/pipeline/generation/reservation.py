"""A generation's side of the ledger: reserve (with a concurrency slot), release a
slot, settle or release the reservation. Every ledger call a generation makes is
here, so a reader checks the money in one module (docs/budget.md)."""

from __future__ import annotations

import logging
from typing import Any

from .. import errors
from ..logs import event as log_event
from ..retry import RetryPolicy
from ..services import Services
from .selection import Candidate
from .state import Admitted, GenerationState

HOLD_MARGIN_S = 120  # storing and settling after the deadline; the lease covers both
SETTLE_RETRY = RetryPolicy(tries=3, base_delay_s=0.2, max_delay_s=0.8, jitter=False)  # 0.2 s, then 0.4 s


def reserve_request(admitted: Admitted, request_id: str, candidate: Candidate, *, estimate_micros: int,
                    attempt_estimate_micros: int, hold_s: float, slot_wait_s: float | None = None,
                    lane: str | None = None) -> dict[str, Any]:
    """The ledger's reserve request, for every lane: the estimate to hold (with what earlier
    attempts already cost) and this attempt's own, the per-request cap, the key and its budget,
    the lease, and (standard lane) the concurrency slot it waits for."""
    cap = admitted.req.max_cost_per_image_micros
    n = candidate.preq.n
    body: dict[str, Any] = {
        "request_id": request_id, "caller": admitted.caller, "provider": candidate.name,
        "model": candidate.preq.model, "images": n, "estimate_micros": estimate_micros,
        "attempt_estimate_micros": attempt_estimate_micros, "cap_micros": cap * n if cap is not None else None,
        "hold_s": hold_s, "key_id": admitted.api_key_id, "key_budget_micros": admitted.key_budget_micros,
    }
    if slot_wait_s is not None:
        body["slot"] = {"provider": candidate.name, "wait_s": slot_wait_s}
    if lane is not None:
        body["lane"] = lane
    return body


def refusal(answer: dict[str, Any], provider: str) -> errors.BudgetExceeded | None:
    """The ledger's refusal of a reservation as the typed error, or None when it was granted."""
    if answer.get("ok"):
        return None
    return errors.BudgetExceeded(
        answer.get("message") or "the budget does not allow this request",
        details={"reason": answer.get("reason"), "remaining": answer.get("remaining"), "provider": provider},
    )


async def reserve_and_slot(state: GenerationState, candidate: Candidate, deadline: float) -> None:
    """One ledger call: hold this attempt's estimate (plus what was already spent) and
    take a concurrency slot. Raises BudgetExceeded or CapacityTimeout."""
    s = state.s
    remaining = deadline - s.clock.monotonic()
    if remaining <= 0:
        raise errors.ProviderTimeout("the request ran out of time", provider=candidate.name)
    own = candidate.estimate.cost_micros
    body = reserve_request(state.admitted, state.request_id, candidate, estimate_micros=state.spent_micros + own,
                           attempt_estimate_micros=own, hold_s=s.settings.request_timeout_s + HOLD_MARGIN_S,
                           slot_wait_s=min(s.settings.slot_wait_s, remaining))
    try:
        answer = await s.ledger.reserve(body)
    except BaseException:
        # The call may have landed and only its answer been lost: a hold and a slot may exist.
        # Closing the request releases them at once (release is idempotent), not at lease expiry.
        state.reserved = True
        raise
    refused = refusal(answer, candidate.name)
    if refused is not None:
        raise refused
    state.reserved = True
    slot = answer.get("slot") or {}
    if slot.get("ok") and slot.get("confirm"):  # handed over while we queued: claim it for good
        slot = await s.ledger.acquire_slot(state.request_id, candidate.name, 0)
    if not slot.get("ok"):
        raise errors.CapacityTimeout(slot.get("message") or f"no {candidate.name} slot came free in time",
                                     provider=candidate.name)


async def release_slot(state: GenerationState, provider: str) -> None:
    """Give a provider's concurrency slot back while the reservation stays open
    (before a retry's sleep, before a fallback): nobody waits on us meanwhile."""
    await state.s.ledger.release_slot(state.request_id, provider)


async def settle(state: GenerationState, details: dict[str, Any]) -> None:
    """Charge what was spent and give the slot back, in one ledger call (`settle_charge`)."""
    if not state.reserved:
        return
    state.reserved = False
    await settle_charge(state.s, state.request_id, state.spent_micros, details)


async def settle_charge(s: Services, request_id: str, micros: int, details: dict[str, Any]) -> None:
    """Settle a request's reservation at `micros`, for every lane. Settling is idempotent, so a
    failed call is retried; one that never lands is charged by the cron's reconciliation from
    D1's record (spend_reconciliation.py): the images exist and D1 has the cost, so failing the
    caller now would help no one."""
    policy = SETTLE_RETRY
    for attempt in range(1, policy.tries + 1):
        try:
            await s.ledger.settle(request_id, micros, details)
            return
        except Exception as exc:  # noqa: BLE001 - the ledger is reached over RPC on Cloudflare
            log_event(logging.ERROR, "settle_failed", request_id=request_id, attempt=attempt, micros=micros,
                      error=type(exc).__name__)
            if attempt == policy.tries:
                return
            await s.clock.sleep(policy.delay(attempt))


async def close_failed(state: GenerationState, code: str) -> None:
    """A failed generation's reservation: what was (or may have been) billed is
    settled; with nothing spent, the hold and the slot are released."""
    if not state.reserved:
        return
    if state.spent_micros:
        await settle(state, {"failed": code})
    else:
        state.reserved = False
        try:
            await state.s.ledger.release(state.request_id, code)
        except errors.ImageWorkerError as failure:  # unreachable: the lease expires, the cron sweeps it
            log_event(logging.ERROR, "release_failed", request_id=state.request_id, error=failure.code)
