"""A generation's side of the ledger: reserve (with a concurrency slot), release a
slot, settle or release the reservation. Every ledger call a generation makes is
here, so a reader checks the money in one module (docs/budget.md)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from .. import errors
from ..ledger_messages import (Outcome, ProviderState, ReleaseRequest, ReserveAnswer, ReserveRequest, SettleAnswer,
                               SettleRequest, SlotRelease, SlotRequest)
from ..logs import event as log_event
from ..retry import RetryPolicy
from ..services import Services
from .selection import Candidate
from .state import Admitted, GenerationState

HOLD_MARGIN_S = 120  # storing and settling after the deadline; the lease covers both
SETTLE_RETRY = RetryPolicy(tries=3, base_delay_s=0.2, max_delay_s=0.8, jitter=False)  # 0.2 s, then 0.4 s


def reserve_request(admitted: Admitted, request_id: str, candidate: Candidate, *, estimate_micros: int,
                    attempt_estimate_micros: int, hold_s: float, slot_wait_s: float | None = None,
                    lane: str = "standard", outcomes: tuple[Outcome, ...] = ()) -> ReserveRequest:
    """The ledger's reserve request, for every lane: the estimate to hold (with what earlier
    attempts already cost) and this attempt's own, the per-request cap, the key and its budget,
    the lease, (standard lane) the concurrency slot it waits for, and the earlier attempts'
    outcomes the breakers have not heard of yet."""
    cap = admitted.req.max_cost_per_image_micros
    n = candidate.preq.n
    return ReserveRequest(
        request_id=request_id, caller=admitted.caller, provider=candidate.name,
        model=candidate.preq.model, images=n, estimate_micros=estimate_micros,
        attempt_estimate_micros=attempt_estimate_micros, cap_micros=cap * n if cap is not None else None,
        hold_s=hold_s, key_id=admitted.api_key_id, key_budget_micros=admitted.key_budget_micros, lane=lane,
        slot=SlotRequest(candidate.name, slot_wait_s) if slot_wait_s is not None else None, outcomes=outcomes,
        try_open_provider=admitted.req.try_open_provider,
    )


def refusal(answer: ReserveAnswer, candidate: Candidate) -> errors.ImageWorkerError | None:
    """The ledger's refusal of a reservation as the typed error (an open breaker, or the
    budget), or None when it was granted."""
    if answer.ok:
        return None
    if answer.reason in ("provider_open", "provider_held"):
        return errors.ProviderCircuitOpen(answer.message or f"{candidate.name} is not taking calls now",
                                          provider=candidate.name, retry_after_s=answer.retry_after_s,
                                          details={"reason": answer.reason, "model": candidate.preq.model})
    return errors.BudgetExceeded(
        answer.message or "the budget does not allow this request",
        details={"reason": answer.reason, "remaining": asdict(answer.remaining) if answer.remaining else None,
                 "provider": candidate.name},
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
                           slot_wait_s=min(s.settings.slot_wait_s, remaining), outcomes=state.take_outcomes())
    try:
        answer = await s.ledger.reserve(body)
    except BaseException:
        # The call may have landed and only its answer been lost: a hold and a slot may exist.
        # Closing the request releases them at once (release is idempotent), not at lease expiry.
        state.reserved = True
        raise
    learn(state, answer.providers)
    refused = refusal(answer, candidate)
    if refused is not None:
        raise refused
    state.reserved = True
    slot = answer.slot
    if slot is not None and slot.ok and slot.confirm:  # handed over while we queued: claim it for good
        slot = await s.ledger.acquire_slot(state.request_id, candidate.name, 0)
    if slot is None or not slot.ok:
        raise errors.CapacityTimeout(slot.message if slot and slot.message else f"no {candidate.name} slot came free in time",
                                     provider=candidate.name)


async def release_slot(state: GenerationState, provider: str) -> None:
    """Give a provider's concurrency slot back while the reservation stays open
    (before a retry's sleep, before a fallback): nobody waits on us meanwhile."""
    answer = await state.s.ledger.release_slot(SlotRelease(state.request_id, provider, state.take_outcomes()))
    learn(state, answer.providers)


def learn(state: GenerationState, providers: tuple[ProviderState, ...]) -> None:
    """What the ledger said of the breakers, for this isolate's next plans."""
    state.s.registry.breakers.learn(providers, state.s.clock.monotonic())


async def settle(state: GenerationState, details: dict[str, Any]) -> None:
    """Charge what was spent and give the slot back, in one ledger call (`settle_charge`).
    `details` (provider, model, images; or why it failed) go to the ledger's event log."""
    if not state.reserved:
        return
    state.reserved = False
    answer = await settle_charge(state.s, SettleRequest(state.request_id, state.spent_micros, note=details,
                                                        outcomes=state.take_outcomes()))
    if answer is not None:
        learn(state, answer.providers)


async def settle_charge(s: Services, request: SettleRequest) -> SettleAnswer | None:
    """Settle a request's reservation, for every lane. Settling is idempotent, so a failed call
    is retried; one that never lands (None) is charged by the cron's reconciliation from D1's
    record (spend_reconciliation.py): the images exist and D1 has the cost, so failing the
    caller now would help no one."""
    policy = SETTLE_RETRY
    request_id, micros = request.request_id, request.actual_micros
    for attempt in range(1, policy.tries + 1):
        try:
            return await s.ledger.settle(request)
        except Exception as exc:  # noqa: BLE001 - the ledger is reached over RPC on Cloudflare
            log_event(logging.ERROR, "settle_failed", request_id=request_id, attempt=attempt, micros=micros,
                      error=type(exc).__name__)
            if attempt == policy.tries:
                return None
            await s.clock.sleep(policy.delay(attempt))
    return None


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
            answer = await state.s.ledger.release(ReleaseRequest(state.request_id, code, state.take_outcomes()))
            learn(state, answer.providers)
        except errors.ImageWorkerError as failure:  # unreachable: the lease expires, the cron sweeps it
            log_event(logging.ERROR, "release_failed", request_id=state.request_id, error=failure.code)
