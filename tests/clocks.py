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
    """`now()` is real UTC time plus `offset_s`; monotonic time is left alone so
    that waits keep their real length while leases and days can be jumped."""

    def __init__(self, start: datetime | None = None) -> None:
        real = datetime.now(timezone.utc)
        self.offset_s = (start - real).total_seconds() if start else 0.0

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + timedelta(seconds=self.offset_s)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def clock_at(day: date | str | None = None) -> ShiftedClock:
    """A clock that starts at noon UTC of `day` (default `TODAY`) and runs at real speed."""
    d = date.fromisoformat(day) if isinstance(day, str) else (day or TODAY)
    return ShiftedClock(datetime(d.year, d.month, d.day, 12, tzinfo=timezone.utc))
