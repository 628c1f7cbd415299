"""Estimated progress for providers that do not stream, so every stream looks alike
to the frontend: while their calls run, a `progress` event every
`PROGRESS_INTERVAL_S`, its expected duration the median of the provider's (the
model's, when measured) recent successful calls, else a default per provider kind.

Nothing in these events comes from the provider: they say `estimated: true` and
never reach 100 %. Providers that stream natively keep their real events only."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from ..models import Event
from ..ports import Clock
from ..providers.shared.observations import CallDurations

# Typical length of one call per provider kind, until this isolate has measured some.
DEFAULT_CALL_MS: dict[str, int] = {
    "gemini": 15_000,
    "gemini-vertex": 15_000,
    "imagen": 10_000,
    "workers-ai": 5_000,
    "openai": 45_000,  # only when it does not stream (no previews asked, or n > 1)
    "placeholder": 1_000,
}
FALLBACK_CALL_MS = 20_000
CAP_PERCENT = 95  # the last step is the provider's answer, which no estimate can promise


@dataclass(frozen=True)
class Estimate:
    expected_ms: int
    basis: str  # "median of the last N calls" or "default"


def estimate(durations: CallDurations, provider: str, kind: str, model: str, calls: int = 1) -> Estimate:
    """Expected length of `calls` sequential calls of `provider` with `model`."""
    recent = durations.recent(provider, model)
    if recent:
        per_call, basis = int(statistics.median(recent)), f"median of the last {len(recent)} calls"
    else:
        per_call, basis = DEFAULT_CALL_MS.get(kind or provider, FALLBACK_CALL_MS), "default"
    return Estimate(max(1, per_call) * max(1, calls), basis)


class Ticker:
    """Builds the `progress` events of one attempt, timed from its creation."""

    def __init__(self, clock: Clock, make: Callable[..., Event], est: Estimate, **fields: Any) -> None:
        self.clock, self.make, self.est, self.fields = clock, make, est, fields
        self.started = clock.monotonic()

    def tick(self) -> Event:
        elapsed = max(0, int((self.clock.monotonic() - self.started) * 1000))
        percent = min(CAP_PERCENT, elapsed * 100 // self.est.expected_ms)
        return self.make("progress", **self.fields, elapsed_ms=elapsed, expected_ms=self.est.expected_ms,
                         percent=percent, estimated=True, basis=self.est.basis)


async def with_progress(events: AsyncIterator[Event], tick: Callable[[], Event], interval_s: float) -> AsyncIterator[Event]:
    """`events` passed through, plus `tick()` whenever `interval_s` passes without one.

    The inner generator advances in its own task, which a tick never waits on nor
    cancels: the provider call runs at its own pace. That task is cancelled only if
    this generator is closed or cancelled mid-call, exactly as the call would have
    been without progress; it never outlives this generator."""

    async def advance() -> Event:
        return await events.__anext__()

    pending: asyncio.Future[Event] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(advance())
            while not pending.done():
                await asyncio.wait({pending}, timeout=interval_s)
                if not pending.done():
                    yield tick()
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)  # let the call unwind (and charge) first
        elif pending is not None and not pending.cancelled():
            pending.exception()  # retrieved: no "exception was never retrieved" warning
        await events.aclose()  # type: ignore[attr-defined]  # an async generator, typed as the AsyncIterator it is used as
