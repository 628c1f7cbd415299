"""Test clocks: real time plus an offset a test can move forward."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone


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
