"""Retrying: the one policy type, and the one loop for writes to our own bindings.

`RetryPolicy`: how many tries, and how long to wait before each retry; exponential from a
base, capped, with jitter (50-100% of each delay) so that many isolates retrying the same
outage do not retry in step. Used by a generation's attempts (generation/attempts.py),
`durably` below, settling a reservation (generation/reservation.py) and webhook deliveries
(webhooks.py); each names its own numbers, none writes its own loop arithmetic.

`durably`: after a provider has answered (and billed), its images go to R2 and its record
to D1; either can fail transiently on Cloudflare, and a failure there must not throw away
what was paid for while a retry could keep it. It retries one write to one of our bindings
(an R2 put, a D1 batch or insert, a queue send) a few times, within the request's deadline
plus the grace the ledger lease already allows for storing (generation/reservation.py
HOLD_MARGIN_S); what still fails is raised as that binding's typed error
(`storage_unavailable` for D1 and R2) for the caller to record."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from typing import Awaitable, Callable

from . import errors
from .logs import event as log_event
from .ports import Clock


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 4  # the first try and three retries
    base_delay_s: float = 0.25  # then 2x, 4x, ...
    max_delay_s: float = 2.0
    jitter: bool = True  # 50-100% of each delay

    def delay(self, retry: int) -> float:
        """Seconds before retry number `retry` (1-based)."""
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (retry - 1))
        return delay * (0.5 + random.random() / 2) if self.jitter else delay

    def allows(self, tries_done: int) -> bool:
        """Whether another try is allowed after `tries_done` tries."""
        return tries_done < self.tries


BINDING_WRITES = RetryPolicy(tries=4, base_delay_s=0.25, max_delay_s=2.0)  # 0.25 s, then 2x, 4x (jittered)
STORE_GRACE_S = 60.0  # past the request's deadline; inside the lease's HOLD_MARGIN_S (120 s)


def writes_policy(base_delay_s: float) -> RetryPolicy:
    """The policy of `durably`, its backoff scaled by the deployment's retry base (RETRY_BASE_DELAY_S)."""
    return replace(BINDING_WRITES, base_delay_s=min(base_delay_s, BINDING_WRITES.base_delay_s))


async def durably(clock: Clock, deadline: float, what: str, write: Callable[[], Awaitable[None]], *,
                  request_id: str, policy: RetryPolicy = BINDING_WRITES,
                  landed: Callable[[], Awaitable[bool]] | None = None) -> None:
    """Run `write` (an R2 put under its own key, a D1 batch, a queue send); retry a failure of
    the binding with backoff while tries and time remain; raise its typed error after
    (`StorageUnavailable` for an unguarded binding's). `landed`
    tells whether a failed write took effect all the same (its answer was lost): a D1 batch
    that landed is not run twice."""
    for attempt in range(1, policy.tries + 1):
        try:
            if attempt > 1 and landed is not None and await _landed(landed):
                return
            await write()
            return
        except errors.ImageWorkerError as exc:
            if not isinstance(exc, errors.BindingUnavailable):
                raise
            failure: Exception = exc
        except Exception as exc:  # noqa: BLE001 - an unguarded binding: same treatment
            failure = exc
        delay = policy.delay(attempt)
        last = attempt == policy.tries or clock.monotonic() + delay > deadline + STORE_GRACE_S
        log_event(logging.ERROR if last else logging.WARNING, "storage_retry", request_id=request_id, write=what,
                  attempt=attempt, gave_up=last, error=type(failure).__name__)
        if last:
            if isinstance(failure, errors.BindingUnavailable):
                raise failure
            raise errors.StorageUnavailable(f"{what} failed ({type(failure).__name__}); retry shortly",
                                            details={"binding": what}) from failure
        await clock.sleep(delay)
    raise AssertionError("unreachable")


async def _landed(landed: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await landed()
    except Exception:  # noqa: BLE001 - cannot tell (the binding is still down): write again
        return False
