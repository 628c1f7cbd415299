"""The isolate's budget of image bytes in flight, shared by every request it serves.

A Worker isolate has 128 MB for everything (the JS heap and Pyodide's WebAssembly
memory, which grows and never shrinks), and serves many requests at once. Each
request that will hold image bytes (a provider's answer, edit inputs, an upload, a
variant) takes its bytes from this budget *before* it fetches or asks for them, and
gives them back when it ends. The sizes are known beforehand: a call's worst case
comes from the catalog and `limits.images_per_call`, inputs from D1 rows and body
lengths. A request that does not fit waits (FIFO, bounded by `wait_s`) and is then
refused with `IsolateBusy`: nothing was sent to a provider, nothing charged.

Counted in decoded image bytes; the isolate holds a few copies of each (measured in
docs/benchmarks.md), which the default capacity (`ISOLATE_IMAGE_MIB`) accounts for."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .. import errors
from ..ports import Clock

MIB = 1024 * 1024
POLL_S = 0.05  # how often a waiting request looks again (bytes come free when a request ends)
RETRY_AFTER_S = 2.0  # what a refused client is told: a large generation holds its bytes for seconds


@dataclass
class Stats:
    """What the budget saw since the isolate started (the memory probe reports it)."""

    peak_bytes: int = 0
    waited: int = 0
    refused: int = 0


@dataclass
class ByteBudget:
    capacity: int
    clock: Clock
    held: int = 0
    stats: Stats = field(default_factory=Stats)
    queue: deque[object] = field(default_factory=deque)

    def hold(self, request_id: str | None, wait_s: float) -> Hold:
        """An empty hold for one request (its id names it in a refusal; an upload has none
        yet); `take` adds to it, leaving the block releases it."""
        return Hold(self, request_id, wait_s)

    def view(self) -> dict[str, Any]:
        return {"capacity_bytes": self.capacity, "held_bytes": self.held, "waiting": len(self.queue),
                "peak_bytes": self.stats.peak_bytes, "waited": self.stats.waited, "refused": self.stats.refused}


class Hold:
    """The bytes one request holds. Use as `async with budget.hold(...) as hold:`."""

    def __init__(self, budget: ByteBudget, request_id: str | None, wait_s: float) -> None:
        self.budget, self.request_id, self.wait_s = budget, request_id, wait_s
        self.bytes = 0

    async def __aenter__(self) -> Hold:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    async def take(self, nbytes: int, what: str) -> None:
        """Add `nbytes` to this hold, waiting for them to come free; raises IsolateBusy
        when they do not within `wait_s`. One hold never takes more than the whole budget
        (a request larger than it runs alone). A hold that already has bytes goes before
        the queue: a request waiting for its second part must not wait behind requests
        that wait for bytes it holds."""
        budget = self.budget
        want = max(0, min(self.bytes + max(0, nbytes), budget.capacity) - self.bytes)
        if want == 0:
            return
        ticket = object()
        growing = self.bytes > 0
        if not growing:
            budget.queue.append(ticket)
        deadline = budget.clock.monotonic() + max(0.0, self.wait_s)
        waited = False
        try:
            while not self._fits(want, ticket, growing):
                if budget.clock.monotonic() >= deadline:
                    budget.stats.refused += 1
                    raise errors.IsolateBusy(
                        f"this isolate is holding {budget.held} of its {budget.capacity} bytes of images in flight;"
                        f" {what} needs {want} more and none came free within {self.wait_s:g}s: nothing was sent"
                        " or charged, retry after Retry-After",
                        retry_after_s=RETRY_AFTER_S,
                        details={**({"request_id": self.request_id} if self.request_id else {}), "needed_bytes": want,
                                 "held_bytes": budget.held, "capacity_bytes": budget.capacity})
                waited = True
                await budget.clock.sleep(POLL_S)
        finally:
            if not growing:
                budget.queue.remove(ticket)
        budget.stats.waited += waited
        budget.held += want
        self.bytes += want
        budget.stats.peak_bytes = max(budget.stats.peak_bytes, budget.held)

    def _fits(self, want: int, ticket: object, growing: bool) -> bool:
        budget = self.budget
        turn = growing or (budget.queue and budget.queue[0] is ticket)
        return bool(turn) and budget.held + want <= budget.capacity

    def release(self) -> None:
        self.budget.held -= self.bytes
        self.bytes = 0
