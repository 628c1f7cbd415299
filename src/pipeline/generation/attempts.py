"""The attempts of one generation: per candidate, per attempt, per provider call.

Money rules kept here (docs/budget.md):
- each provider attempt reserves its own estimate, plus what earlier attempts
  already cost; a fallback re-reserves the difference or is refused with the
  ledger's reason, and the next candidate is tried;
- a provider call that may have been billed is charged: at the usage the
  provider reported (also with a failure: `details["charged_micros"]`), else at
  the call's estimate (`POSSIBLY_BILLED`);
- a request split into several calls keeps the images and the cost of the
  calls that finished when a later one fails or the deadline hits."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any, AsyncIterator

from .. import errors, limits
from ..logs import event as log_event
from ..models import Event
from ..providers.base import ProviderEvent, ProviderRequest, ProviderResult
from ..storage.store import Attempt, ImageRow
from . import progress, selection

if TYPE_CHECKING:
    from ..services import Services
    from ..storage.store import Store

# Error code -> may the provider have billed the call that ended with it? Codes not
# listed were answered before any work (4xx, 5xx, connection refused): nothing billed.
POSSIBLY_BILLED: dict[str, bool] = {
    "provider_timeout": True,  # sent, no answer in time: the provider may finish and bill it
    "provider_bad_response": True,  # a 2xx we could not read is still a billed call
    "cancelled": True,  # the caller went away mid-call: the provider carries on
    "internal_error": True,  # our code failed after the request left
}
HOLD_MARGIN_S = 120  # storing and settling after the deadline; the lease covers both


def _code(exc: BaseException) -> str:
    if isinstance(exc, errors.ImageWorkerError):
        return exc.code
    return "cancelled" if isinstance(exc, (asyncio.CancelledError, GeneratorExit)) else "internal_error"


class AttemptsMixin:
    """The attempt loop of `Generation` (generation.py owns the state it uses)."""

    s: Services
    store: Store
    request_id: str
    caller: str
    api_key_id: str | None
    key_budget_micros: int | None
    _reserved: bool
    _spent_micros: int
    _stored: list[ImageRow]
    progress: bool

    if TYPE_CHECKING:  # provided by generation.py and record.py
        req: Any

        def _event(self, kind: str, **data: Any) -> Event: ...

        def _ms_since(self, started: float) -> int: ...

        async def _store_images(self, candidate: selection.Candidate, result: ProviderResult) -> None: ...

        def _store_success(self, candidate: selection.Candidate, attempt: int, results: list[ProviderResult],
                           latency_ms: int) -> AsyncIterator[Event]: ...

    async def _attempts(self, plan: selection.Plan) -> AsyncIterator[Event]:
        settings = self.s.settings
        deadline = self.s.clock.monotonic() + settings.request_timeout_s
        last_error: errors.ImageWorkerError | None = None
        for candidate in plan.candidates:
            await self.store.mark_running(
                self.request_id, provider=candidate.name, model=candidate.preq.model, size=candidate.preq.size,
                quality=candidate.preq.quality, estimate_micros=candidate.estimate.cost_micros,
                warnings=list(candidate.preq.warnings),
            )
            for attempt in range(1, settings.max_attempts_per_provider + 1):
                yield self._event("attempt", provider=candidate.name, model=candidate.preq.model, attempt=attempt)
                started = self.s.clock.monotonic()
                results: list[ProviderResult] = []
                try:
                    await self._reserve_and_slot(candidate, deadline)
                    async for event in self._with_progress(candidate, attempt, self._calls(candidate, deadline, results)):
                        yield event
                except errors.BudgetExceeded as exc:
                    last_error = exc  # this provider does not fit; a cheaper one may
                    log_event(logging.INFO, "attempt_refused", request_id=self.request_id, provider=candidate.name,
                              reason=exc.details.get("reason"))
                    break
                except errors.ImageWorkerError as exc:
                    last_error = exc
                    delay = await self._after_failure(candidate, attempt, exc, started, deadline)
                    if delay is not None:
                        yield self._event("retry", provider=candidate.name, attempt=attempt, error=exc.to_dict(),
                                          delay_s=delay)
                        await self.s.clock.sleep(delay)
                        continue
                    if exc.fallback and candidate is not plan.candidates[-1]:
                        await self.s.ledger.release_slot(self.request_id, candidate.name)
                        break  # next candidate
                    raise
                latency = self._ms_since(started)
                self.s.registry.record(candidate.name, True, latency)
                log_event(logging.INFO, "generation_succeeded", request_id=self.request_id, provider=candidate.name,
                          model=results[0].model, attempt=attempt, images=len(self._stored),
                          cost_micros=sum(r.cost_micros for r in results), spent_micros=self._spent_micros,
                          latency_ms=latency)
                async for event in self._store_success(candidate, attempt, results, latency):
                    yield event
                return
        assert last_error is not None
        raise last_error

    async def _after_failure(self, candidate: selection.Candidate, attempt: int, exc: errors.ImageWorkerError,
                             started: float, deadline: float) -> float | None:
        """Record a failed attempt; the delay before retrying it, or None: do not retry."""
        exc.provider = exc.provider or candidate.name
        latency = self._ms_since(started)
        if isinstance(exc, errors.ProviderError):
            self.s.registry.record(candidate.name, False, latency, exc.code)
        outcome = "refused" if isinstance(exc, errors.ProviderRefused) else "failed"
        await self.store.record_attempt(
            Attempt(self.request_id, candidate.name, candidate.preq.model, attempt, outcome, latency_ms=latency,
                    error_code=exc.code, cost_micros=int(exc.details.get("charged_micros", 0)))
        )
        log_event(logging.WARNING, "attempt_failed", request_id=self.request_id, provider=candidate.name,
                  attempt=attempt, code=exc.code, latency_ms=latency, charged_micros=exc.details.get("charged_micros", 0))
        delay = self._retry_delay(exc, attempt)
        if delay is None or self.s.clock.monotonic() + delay >= deadline:
            return None
        if exc.code != "capacity_timeout":
            await self.s.ledger.release_slot(self.request_id, candidate.name)  # nobody waits on us while we sleep
        return delay

    async def _reserve_and_slot(self, candidate: selection.Candidate, deadline: float) -> None:
        """One ledger call: hold this attempt's estimate (plus what was already spent) and
        take a concurrency slot. Raises BudgetExceeded or CapacityTimeout."""
        settings = self.s.settings
        remaining = deadline - self.s.clock.monotonic()
        if remaining <= 0:
            raise errors.ProviderTimeout("the request ran out of time", provider=candidate.name)
        own = candidate.estimate.cost_micros
        cap = self.req.max_cost_per_image_micros
        n = candidate.preq.n
        answer = await self.s.ledger.reserve({
            "request_id": self.request_id, "caller": self.caller, "provider": candidate.name,
            "model": candidate.preq.model, "images": n, "estimate_micros": self._spent_micros + own,
            "attempt_estimate_micros": own, "cap_micros": cap * n if cap is not None else None,
            "hold_s": settings.request_timeout_s + HOLD_MARGIN_S,
            "key_id": self.api_key_id, "key_budget_micros": self.key_budget_micros,
            "slot": {"provider": candidate.name, "wait_s": min(settings.slot_wait_s, remaining)},
        })
        if not answer.get("ok"):
            raise errors.BudgetExceeded(
                answer.get("message") or "the budget does not allow this request",
                details={"reason": answer.get("reason"), "remaining": answer.get("remaining"), "provider": candidate.name},
            )
        self._reserved = True
        slot = answer.get("slot") or {}
        if slot.get("ok") and slot.get("confirm"):  # handed over while we queued: claim it for good
            slot = await self.s.ledger.acquire_slot(self.request_id, candidate.name, 0)
        if not slot.get("ok"):
            raise errors.CapacityTimeout(slot.get("message") or f"no {candidate.name} slot came free in time",
                                         provider=candidate.name)

    async def _calls(self, candidate: selection.Candidate, deadline: float,
                     done: list[ProviderResult]) -> AsyncIterator[Event]:
        """`preq.n` images in as many provider calls as the provider needs (and the isolate's
        memory allows: limits.py); finished calls are kept (and paid for) when a later one
        fails. Each call's images are stored as soon as it ends and their bytes let go, so
        at most one call's images are held at a time."""
        preq = candidate.preq
        per_call = self._per_call(candidate)
        left = preq.n
        while left > 0:
            sub = replace(preq, n=min(left, per_call))
            began = self.s.clock.monotonic()
            try:
                result: ProviderResult | None = None
                async for step in self._call(candidate, sub, deadline):
                    if step.kind == "partial_image" and step.image is not None:
                        yield self._event("partial_image", index=step.index, content_type=step.image.content_type,
                                          b64=base64.b64encode(step.image.data).decode())
                    elif step.kind == "result":
                        result = step.result
                if result is None or not result.images:
                    charged = result.cost_micros if result is not None else 0
                    self._spent_micros += charged  # whatever it reported billing, even for no image
                    raise errors.ProviderBadResponse(f"{candidate.name} returned no images", provider=candidate.name,
                                                     details={"charged_micros": charged} if charged else None)
            except errors.ImageWorkerError as exc:
                if not done:
                    raise
                made = len(self._stored)
                done[-1].warnings.append(f"{made} of {preq.n} images made; {candidate.name} failed on the rest ({exc.code})")
                return
            self._spent_micros += result.cost_micros
            self.s.registry.durations.record(candidate.name, sub.model, self._ms_since(began))
            await self._store_images(candidate, result)
            done.append(replace(result, images=[]))
            step = result = None  # let this call's image bytes go before the next call
            if left > sub.n:
                gc.collect(1)  # they sit in cycles (asyncio's futures), which counts of objects, not bytes, trigger
            left -= sub.n

    def _per_call(self, candidate: selection.Candidate) -> int:
        preq = candidate.preq
        return limits.images_per_call(preq.size, candidate.provider.capabilities.max_images_per_call,
                                      preq.background == "transparent")

    def _with_progress(self, candidate: selection.Candidate, attempt: int,
                       events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """Estimated `progress` events around a provider that does not stream this
        request (progress.py); streams that do not ask for progress, and providers
        that stream natively, pass through untouched."""
        provider, preq = candidate.provider, candidate.preq
        if not self.progress or provider.streams_natively(preq):
            return events
        calls = -(-preq.n // self._per_call(candidate))
        est = progress.estimate(self.s.registry.durations, candidate.name, provider.kind, preq.model, calls)
        ticker = progress.Ticker(self.s.clock, self._event, est, provider=candidate.name, model=preq.model, attempt=attempt)
        return progress.with_progress(events, ticker.tick, self.s.settings.progress_interval_s)

    async def _call(self, candidate: selection.Candidate, sub: ProviderRequest, deadline: float) -> AsyncIterator[ProviderEvent]:
        """One provider call under the request's deadline; charges its estimate when it ends
        in a way the provider may still bill (POSSIBLY_BILLED)."""
        if deadline - self.s.clock.monotonic() <= 0:
            raise errors.ProviderTimeout("the request ran out of time", provider=candidate.name)  # nothing sent
        stream = candidate.provider.stream(sub)
        sent = False
        try:
            while True:
                left = deadline - self.s.clock.monotonic()
                sent = True
                try:
                    step = await asyncio.wait_for(stream.__anext__(), timeout=max(left, 0.001))
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError as exc:
                    raise errors.ProviderTimeout(
                        f"{candidate.name} did not finish within {self.s.settings.request_timeout_s:g}s",
                        provider=candidate.name,
                    ) from exc
                yield step
        except BaseException as exc:
            if sent and POSSIBLY_BILLED.get(_code(exc), False):
                # The usage a provider reported with the failure (e.g. Gemini's usageMetadata on an
                # answer without an image) is what it billed; else the call's estimate.
                reported = exc.details.get("charged_micros") if isinstance(exc, errors.ImageWorkerError) else None
                charge = reported if isinstance(reported, int) and reported >= 0 else candidate.provider.estimate(sub).cost_micros
                self._spent_micros += charge
                if isinstance(exc, errors.ImageWorkerError):
                    exc.details["charged_micros"] = charge
                log_event(logging.WARNING, "charged_uncertain", request_id=self.request_id, provider=candidate.name,
                          code=_code(exc), micros=charge)
            raise
        finally:
            await stream.aclose()  # closes the provider connection if we stopped early

    def _retry_delay(self, exc: errors.ImageWorkerError, attempt: int) -> float | None:
        """Seconds to wait before retrying the same provider, or None to stop retrying it."""
        settings = self.s.settings
        if not exc.retryable or attempt >= settings.max_attempts_per_provider:
            return None
        if exc.retry_after_s is not None:
            # A long Retry-After means "not now": better served by the next provider.
            return exc.retry_after_s if exc.retry_after_s <= settings.retry_max_delay_s else None
        backoff = settings.retry_base_delay_s * (2 ** (attempt - 1))
        return min(settings.retry_max_delay_s, backoff * (0.5 + random.random() / 2))
