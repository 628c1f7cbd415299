"""Cloudflare Queues under CPython: an in-process queue that runs the same consumer.

Semantics kept from Queues: messages are delivered in batches (up to `max_batch`);
a message neither acked nor retried is acked when the consumer returns normally,
and every unacked message is retried if the consumer raises; `retry(delay_s)`
redelivers later with `attempts` + 1; after `max_retries` retries a message goes
to the dead-letter list. `paused=True` holds deliveries until `run()` (tests use
it to stand where a crashed isolate left off).

Time is the services' Clock (`clock`, default the system clock): retry delays are
measured with `clock.monotonic()` and waited out with `clock.sleep()`, so a test clock
whose sleep advances time makes them free."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Awaitable, Callable, Sequence

from pipeline.clock import SystemClock
from pipeline.ports import Clock

Consumer = Callable[[list[dict[str, Any]]], Awaitable[None]]


class InProcessQueue:
    def __init__(self, *, max_batch: int = 10, max_retries: int = 10, paused: bool = False,
                 clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.max_batch = max_batch
        self.max_retries = max_retries
        self.paused = paused
        self.pending: list[dict[str, Any]] = []  # {id, body, attempts, not_before}
        self.dead_letter: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []  # every delivery: {id, attempts, outcome}
        self._consumer: Consumer | None = None
        self._task: asyncio.Task | None = None
        self._ids = itertools.count(1)

    def bind(self, consumer: Consumer) -> None:
        self._consumer = consumer

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None:
        self._put(body, 1, delay_s)
        self._kick()

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None:
        for body in bodies:
            self._put(body, 1, 0)
        self._kick()

    def _put(self, body: dict[str, Any], attempts: int, delay_s: float, msg_id: str | None = None) -> None:
        self.pending.append({"id": msg_id or f"msg-{next(self._ids)}", "body": dict(body), "attempts": attempts,
                             "not_before": self.clock.monotonic() + delay_s})

    def _kick(self) -> None:
        idle = self._task is None or self._task.done()
        if self._consumer is not None and not self.paused and self.pending and idle:
            self._task = asyncio.ensure_future(self._pump())

    async def run(self) -> None:
        """Deliver until nothing is pending (waiting out retry delays); also un-pauses."""
        self.paused = False
        self._kick()
        while self._task is not None and not self._task.done():
            await self._task
            self._kick()

    async def _pump(self) -> None:
        while self.pending:
            now = self.clock.monotonic()
            ready = [m for m in self.pending if m["not_before"] <= now][: self.max_batch]
            if not ready:
                await self.clock.sleep(max(0.001, min(m["not_before"] for m in self.pending) - now))
                continue
            for m in ready:
                self.pending.remove(m)
            await self._deliver(ready)

    async def _deliver(self, batch: list[dict[str, Any]]) -> None:
        outcome: dict[str, tuple[str, float]] = {}

        def message(m: dict[str, Any]) -> dict[str, Any]:
            return {"id": m["id"], "body": m["body"], "attempts": m["attempts"],
                    "ack": lambda: outcome.setdefault(m["id"], ("ack", 0.0)),
                    "retry": lambda delay_s=0: outcome.setdefault(m["id"], ("retry", float(delay_s or 0)))}

        assert self._consumer is not None
        try:
            await self._consumer([message(m) for m in batch])
            default = ("ack", 0.0)
        except Exception:  # noqa: BLE001 - as on Cloudflare: the whole batch is retried
            default = ("retry", 0.0)
        for m in batch:
            kind, delay = outcome.get(m["id"], default)
            self.delivered.append({"id": m["id"], "attempts": m["attempts"], "outcome": kind})
            if kind == "retry":
                if m["attempts"] > self.max_retries:
                    self.dead_letter.append(m)
                else:
                    self._put(m["body"], m["attempts"] + 1, delay, m["id"])
