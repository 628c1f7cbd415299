"""The attempts of one generation: per candidate, per attempt.

Money rules kept here (docs/budget.md):
- each provider attempt reserves its own estimate, plus what earlier attempts
  already cost (reservation.py); a fallback re-reserves the difference or is
  refused with the ledger's reason, and the next candidate is tried;
- a provider call that may have been billed is charged (calls.py);
- retryable failures are retried on the same provider (honouring Retry-After),
  failures that may fall back go to the next candidate."""

from __future__ import annotations

import logging
from typing import AsyncIterator

from .. import errors
from ..ledger_messages import Outcome
from ..logs import event as log_event
from ..models import Event
from ..providers.base import ProviderResult
from ..retry import RetryPolicy
from ..settings import Settings
from ..storage.store import Attempt
from . import calls, progress, record, reservation
from .selection import Candidate, Plan
from .state import GenerationState


async def run(state: GenerationState, plan: Plan) -> AsyncIterator[Event]:
    """Try the plan's candidates in order until one succeeds; its success is recorded
    (record.py). Raises the last candidate's error when none does."""
    s = state.s
    settings = s.settings
    deadline = state.deadline = s.clock.monotonic() + settings.request_timeout_s  # storing may retry to just past it
    last_error: errors.ImageWorkerError | None = None
    for candidate in plan.candidates:
        await state.store.mark_running(
            state.request_id, provider=candidate.name, model=candidate.preq.model, size=candidate.preq.size,
            quality=candidate.preq.quality, estimate_micros=candidate.estimate.cost_micros,
            warnings=list(candidate.preq.warnings),
        )
        for attempt in range(1, settings.max_attempts_per_provider + 1):
            yield state.event("attempt", provider=candidate.name, model=candidate.preq.model, attempt=attempt)
            started = s.clock.monotonic()
            results: list[ProviderResult] = []
            try:
                await reservation.reserve_and_slot(state, candidate, deadline)
                made = calls.run_calls(state, candidate, deadline, results)
                async for event in _with_progress(state, candidate, attempt, made):
                    yield event
            except (errors.BudgetExceeded, errors.ProviderCircuitOpen) as exc:
                last_error = exc  # this provider does not fit, or is failing for everyone: another may serve
                log_event(logging.INFO, "attempt_refused", request_id=state.request_id, provider=candidate.name,
                          reason=exc.details.get("reason"))
                break
            except errors.ImageWorkerError as exc:
                last_error = exc
                delay = await _after_failure(state, candidate, attempt, exc, started, deadline)
                if delay is not None:
                    yield state.event("retry", provider=candidate.name, attempt=attempt, error=exc.to_dict(),
                                      delay_s=delay)
                    await s.clock.sleep(delay)
                    continue
                if exc.fallback and candidate is not plan.candidates[-1]:
                    await reservation.release_slot(state, candidate.name)
                    break  # next candidate
                raise
            latency = state.ms_since(started)
            s.registry.record(candidate.name, True, latency)
            state.outcomes.append(Outcome(candidate.name, candidate.preq.model, True, latency_ms=latency))
            log_event(logging.INFO, "generation_succeeded", request_id=state.request_id, provider=candidate.name,
                      model=results[0].model, attempt=attempt, images=len(state.stored),
                      cost_micros=sum(r.cost_micros for r in results), spent_micros=state.spent_micros,
                      latency_ms=latency)
            async for event in record.store_success(state, candidate, attempt, results, latency):
                yield event
            return
    assert last_error is not None
    raise last_error


async def _after_failure(state: GenerationState, candidate: Candidate, attempt: int, exc: errors.ImageWorkerError,
                         started: float, deadline: float) -> float | None:
    """Record a failed attempt; the delay before retrying it, or None: do not retry."""
    s = state.s
    exc.provider = exc.provider or candidate.name
    latency = state.ms_since(started)
    if isinstance(exc, errors.ProviderError):
        s.registry.record(candidate.name, False, latency, exc.code)
        state.outcomes.append(outcome_of(candidate, exc, latency))
    outcome = "refused" if isinstance(exc, errors.ProviderRefused) else "failed"
    await state.store.record_attempt(
        Attempt(state.request_id, candidate.name, candidate.preq.model, attempt, outcome, latency_ms=latency,
                error_code=exc.code, cost_micros=exc.charged_micros or 0)
    )
    log_event(logging.WARNING, "attempt_failed", request_id=state.request_id, provider=candidate.name,
              attempt=attempt, code=exc.code, latency_ms=latency, charged_micros=exc.charged_micros or 0)
    delay = retry_delay(state, exc, attempt)
    if delay is None or s.clock.monotonic() + delay >= deadline:
        return None
    if exc.code != "capacity_timeout":
        await reservation.release_slot(state, candidate.name)  # nobody waits on us while we sleep
    return delay


def outcome_of(candidate: Candidate, exc: errors.ProviderError, latency_ms: int) -> Outcome:
    """A failed call, for the shared breaker: a 429 with Retry-After holds the provider back
    that long instead of counting against it; other failures count if their type says the
    provider is unwell (errors.py `unwell`: timeouts, 5xx, connection errors)."""
    held = exc.retry_after_s if isinstance(exc, errors.ProviderRateLimited) and exc.retry_after_s else None
    return Outcome(candidate.name, candidate.preq.model, False, exc.code, latency_ms,
                   unwell=exc.unwell and held is None, retry_after_s=held)


def _with_progress(state: GenerationState, candidate: Candidate, attempt: int,
                   events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """Estimated `progress` events around a provider that does not stream this
    request (progress.py); streams that do not ask for progress, and providers
    that stream natively, pass through untouched."""
    provider, preq = candidate.provider, candidate.preq
    if not state.progress or provider.streams_natively(preq):
        return events
    s = state.s
    est = progress.estimate(s.registry.durations, candidate.name, provider.kind, preq.model, calls.rounds(candidate))
    ticker = progress.Ticker(s.clock, state.event, est, provider=candidate.name, model=preq.model, attempt=attempt)
    return progress.with_progress(events, ticker.tick, s.settings.progress_interval_s)


def retry_delay(state: GenerationState, exc: errors.ImageWorkerError, attempt: int) -> float | None:
    """Seconds to wait before retrying the same provider, or None to stop retrying it."""
    settings = state.s.settings
    if not exc.retryable or not attempt_policy(settings).allows(attempt):
        return None
    if isinstance(exc, errors.BindingUnavailable):
        return None  # our own binding failed, after the provider answered: calling it again would pay twice
    if exc.retry_after_s is not None:
        # A long Retry-After means "not now": better served by the next provider.
        return exc.retry_after_s if exc.retry_after_s <= settings.retry_max_delay_s else None
    return attempt_policy(settings).delay(attempt)


def attempt_policy(settings: Settings) -> RetryPolicy:
    """Retries of the same provider: MAX_ATTEMPTS_PER_PROVIDER tries, RETRY_BASE_DELAY_S doubling,
    capped at RETRY_MAX_DELAY_S, jittered."""
    return RetryPolicy(tries=settings.max_attempts_per_provider, base_delay_s=settings.retry_base_delay_s,
                       max_delay_s=settings.retry_max_delay_s)
