"""The one retry/backoff policy: how many tries, and how long to wait before each retry.

Exponential from a base, capped, with jitter (50-100% of each delay) so that many
isolates retrying the same outage do not retry in step. Used by a generation's attempts
(generation/attempts.py), storage retries (generation/storage_retry.py), settling a
reservation (generation/reservation.py) and webhook deliveries (webhooks.py); each
names its own numbers, none writes its own loop arithmetic."""

from __future__ import annotations

import random
from dataclasses import dataclass


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
