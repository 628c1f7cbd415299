"""Test clocks. Every test runs at a fixed date (`TODAY`), never the real one: the
catalog's shutdown dates must not turn a green suite red on the day they pass.
`TEST_TODAY=2027-12-31` runs a suite at another date (CI runs the catalog, provider
and selection tests that way); a test about one dated model pins its own date."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date, datetime, timedelta, timezone

TODAY = date.fromisoformat(os.environ.get("TEST_TODAY") or "2026-11-20")


class ShiftedClock:
    """`now()` is real UTC time plus `offset_s`. By default monotonic time is left alone so
    that waits keep their real length while leases and days can be jumped. With
    `instant_sleep=True`, `sleep(s)` waits for nothing and moves both clocks `s` ahead
    instead (every retry delay, backoff and queue redelivery is free, and the deadlines,
    leases and days that depend on them still see the time pass)."""

    def __init__(self, start: datetime | None = None, *, instant_sleep: bool = False) -> None:
        real = datetime.now(timezone.utc)
        self.offset_s = (start - real).total_seconds() if start else 0.0
        self.monotonic_offset_s = 0.0
        self.instant_sleep = instant_sleep
        self.slept_s = 0.0  # what instant sleeps skipped

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset_s)

    def monotonic(self) -> float:
        return time.monotonic() + self.monotonic_offset_s

    async def sleep(self, seconds: float) -> None:
        if not self.instant_sleep:
            await asyncio.sleep(seconds)
            return
        step = max(0.0, seconds)
        self.offset_s += step
        self.monotonic_offset_s += step
        self.slept_s += step
        await asyncio.sleep(0)  # still a turn of the loop: other tasks run as they would


def clock_at(day: date | str | None = None, *, instant_sleep: bool = False) -> ShiftedClock:
    """A clock that starts at noon UTC of `day` (default `TODAY`) and runs at real speed
    (its sleeps free with `instant_sleep`)."""
    d = date.fromisoformat(day) if isinstance(day, str) else (day or TODAY)
    return ShiftedClock(datetime(d.year, d.month, d.day, 12, tzinfo=timezone.utc), instant_sleep=instant_sleep)
