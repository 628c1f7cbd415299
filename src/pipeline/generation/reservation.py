"""A generation's side of the ledger: reserve (with a concurrency slot), release a
slot, settle or release the reservation. Every ledger call a generation makes is
here, so a reader checks the money in one module (docs/budget.md)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from .. import errors
from ..ledger.messages import ProviderState, ReleaseRequest, ReserveRequest, SettleRequest, SlotRelease, SlotRequest
from ..logs import event as log_event
from .selection import Candidate
from .state import GenerationState

HOLD_MARGIN_S = 120  # storing and settling after the deadline; the lease covers both


def reserve_request(state: GenerationState, candidate: Candidate, wait_s: float) -> ReserveRequest:
    """The ledger's reserve request for one attempt: its own estimate plus what earlier
    attempts already cost, the per-request cap, the lease, and the slot it waits for."""
    own = candidate.estimate.cost_micros
    cap = state.req.max_cost_per_image_micros
    n = candidate.preq.n
    settings = state.s.settings
    return ReserveRequest(
        request_id=state.request_id, caller=state.caller, provider=candidate.name,
        model=candidate.preq.model, images=n, estimate_micros=state.spent_micros + own,
        attempt_estimate_micros=own, cap_micros=cap * n if cap is not None else None,
        hold_s=settings.request_timeout_s + HOLD_MARGIN_S,
        key_id=state.api_key_id, key_budget_micros=state.key_budget_micros,
        slot=SlotRequest(candidate.name, wait_s), outcomes=state.take_outcomes(),
        try_open_provider=state.req.try_open_provider,
    )


async def reserve_and_slot(state: GenerationState, candidate: Candidate, deadline: float) -> None:
    """One ledger call: hold this attempt's estimate (plus what was already spent) and
    take a concurrency slot. Raises BudgetExceeded or CapacityTimeout."""
    s = state.s
    remaining = deadline - s.clock.monotonic()
    if remaining <= 0:
        raise errors.ProviderTimeout("the request ran out of time", provider=candidate.name)
    try:
        answer = await s.ledger.reserve(reserve_request(state, candidate, min(s.settings.slot_wait_s, remaining)))
    except BaseException:
        # The call may have landed and only its answer been lost: a hold and a slot may exist.
        # Closing the request releases them at once (release is idempotent), not at lease expiry.
        state.reserved = True
        raise
    learn(state, answer.providers)
    if not answer.ok and answer.reason in ("provider_open", "provider_held"):
        raise errors.ProviderCircuitOpen(answer.message or f"{candidate.name} is not taking calls now",
                                         provider=candidate.name, retry_after_s=answer.retry_after_s,
                                         details={"reason": answer.reason, "model": candidate.preq.model})
    if not answer.ok:
        raise errors.BudgetExceeded(
            answer.message or "the budget does not allow this request",
            details={"reason": answer.reason, "remaining": asdict(answer.remaining) if answer.remaining else None,
                     "provider": candidate.name},
        )
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
    """Charge what was spent and give the slot back, in one ledger call. Settling is
    idempotent, so a failed call is retried; the cron reconciles one that never lands.
    `details` (provider, model, images; or why it failed) go to the ledger's event log."""
    if not state.reserved:
        return
    state.reserved = False
    actual = state.spent_micros
    request = SettleRequest(state.request_id, actual, note=details, outcomes=state.take_outcomes())
    for attempt in range(3):
        try:
            learn(state, (await state.s.ledger.settle(request)).providers)
            return
        except Exception as exc:  # noqa: BLE001 - the ledger is reached over RPC on Cloudflare
            log_event(logging.ERROR, "settle_failed", request_id=state.request_id, attempt=attempt + 1,
                      micros=actual, error=type(exc).__name__)
            if attempt == 2:
                # The images exist and D1 has the cost: failing the caller now would help
                # no one. The cron's reconciliation charges it from D1.
                return
            await state.s.clock.sleep(0.2 * 2**attempt)


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
