"""The `Ledger` port over `LedgerCore`: what the Durable Object exposes.

Construct as `LedgerService(storage, clock)`: on Cloudflare the Durable Object
passes an adapter over `ctx.storage.sql` (runtime/durable_object.py); locally, sqlite3
(local/ledger.py). Each method calls the core synchronously — atomic inside
the DO — and only awaits to wait for a concurrency slot.

Waiting is first come, first served: waiters queue in arrival order, and a
released slot is handed to the earliest waiter it can serve before anyone new
can take it. A waiter whose slot holder died wakes when that lease expires.
A slot handed to a waiter is a short claim (slots.py) until the waiter asks
for it again: `acquire_slot` answers `confirm: true` then.

Round trips: `reserve` takes an optional `slot` ({provider, wait_s}) and
answers the slot too; `settle` and `release` give back the request's slots.
So the common path of a generation is two Durable Object calls."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from . import breaker
from .core import LedgerCore, SqlStorage
from ..ledger_messages import (Outcome, ProviderState, ReconcileAnswer, ReleaseAnswer, ReleaseRequest, Remaining, ReserveAnswer, ReserveRequest,
                       SettleAnswer, SettleRequest, SlotAnswer, SlotRelease, SlotReleased, SweepAnswer,
                       UsageReport)
from ..ports import Clock


@dataclass
class _Waiter:
    request_id: str
    provider: str
    future: asyncio.Future = field(repr=False)


class LedgerService:
    def __init__(self, storage: SqlStorage, clock: Clock) -> None:
        self.core = LedgerCore(storage)
        self.clock = clock
        self._waiters: deque[_Waiter] = deque()

    def _now_ms(self) -> int:
        return int(self.clock.now().timestamp() * 1000)

    # --- money -----------------------------------------------------------------

    async def reserve(self, request: ReserveRequest) -> ReserveAnswer:
        """Report earlier calls' outcomes; refuse at once (no money held) when the provider's
        breaker is open or it asked everyone to wait; else hold money (core.reserve) and, with
        `slot`, take a concurrency slot in the same call."""
        now, cfg = self._now_ms(), self.core.config()
        breaker.record(self.core.sql, cfg, request.request_id, request.outcomes, now)
        probe, refusal = False, None
        if request.lane == "standard" and request.provider and not request.try_open_provider:
            hold_ms = int(request.hold_s * 1000)
            probe, refusal = breaker.admit(self.core.sql, cfg, request.provider, request.model, request.request_id,
                                           hold_ms, now)
        if refusal is not None:
            reason, message, retry_after_s = refusal
            return ReserveAnswer(ok=False, reason=reason, message=message, retry_after_s=retry_after_s,
                                 providers=self._states(cfg))
        answer = self.core.reserve(_reserve_dict(request), now)
        slot = None
        if answer.get("ok") and request.slot is not None:
            slot = await self.acquire_slot(request.request_id, request.slot.provider, request.slot.wait_s)
        if probe and not (answer.get("ok") and (slot is None or slot.ok)):
            breaker.forget_probe(self.core.sql, request.request_id)  # it will not call: another may probe
            probe = False
        return ReserveAnswer(
            ok=bool(answer["ok"]), reason=answer.get("reason"), message=answer.get("message"),
            already=bool(answer.get("already")), reserved_micros=int(answer.get("reserved_micros") or 0),
            remaining=Remaining(**answer["remaining"]) if answer.get("remaining") else None, slot=slot,
            probe=probe, providers=self._states(cfg))

    async def settle(self, request: SettleRequest) -> SettleAnswer:
        cfg = self._report(request.request_id, request.outcomes, closing=True)
        details = {k: v for k, v in (("caller", request.caller), ("provider", request.provider),
                                     ("model", request.model), ("images", request.images),
                                     ("key_id", request.key_id)) if v is not None}
        answer = self.core.settle(request.request_id, request.actual_micros, details | request.note, self._now_ms())
        self._hand_over()  # its slots were given back
        return SettleAnswer(int(answer["charged_micros"]), int(answer["difference_micros"]),
                            bool(answer["already_settled"]), self._states(cfg))

    async def release(self, request: ReleaseRequest) -> ReleaseAnswer:
        cfg = self._report(request.request_id, request.outcomes, closing=True)
        answer = self.core.release(request.request_id, request.reason, self._now_ms())
        self._hand_over()
        return ReleaseAnswer(bool(answer["already"]), answer.get("state"), self._states(cfg))

    # --- provider breakers (breaker.py) ------------------------------------------

    def _report(self, request_id: str, outcomes: tuple[Outcome, ...], closing: bool = False) -> dict[str, Any]:
        cfg = self.core.config()
        breaker.record(self.core.sql, cfg, request_id, outcomes, self._now_ms())
        if closing:
            breaker.forget_probe(self.core.sql, request_id)
        return cfg

    def _states(self, cfg: dict[str, Any]) -> tuple[ProviderState, ...]:
        return breaker.states(self.core.sql, cfg, self._now_ms())

    async def breakers(self) -> tuple[ProviderState, ...]:
        """Every provider and model's breaker, with its recent figures (GET /v1/providers)."""
        return breaker.states(self.core.sql, self.core.config(), self._now_ms(), every=True)

    async def reconcile(self, spent: list[SettleRequest]) -> ReconcileAnswer:
        fields = ("request_id", "actual_micros", "caller", "provider", "model", "images", "key_id")
        answer = self.core.reconcile([{k: getattr(item, k) for k in fields} for item in spent], self._now_ms())
        return ReconcileAnswer(int(answer["reconciled"]), tuple(answer["request_ids"]))

    # --- concurrency -----------------------------------------------------------

    async def acquire_slot(self, request_id: str, provider: str, wait_s: float) -> SlotAnswer:
        """A slot now, or after waiting in line at most `wait_s` seconds."""
        started = self.clock.monotonic()
        self.core.expire(self._now_ms())
        # a held slot (a claim being confirmed) never queues behind others
        first = not self._waiters or self.core.holds_slot(request_id, provider)
        if first and self.core.try_acquire(request_id, provider, self._now_ms()):
            return SlotAnswer(ok=True)
        waiter = _Waiter(request_id, provider, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._hand_over()  # the queue may be blocked on another provider's limit only
        deadline = started + max(0.0, wait_s)
        try:
            while not waiter.future.done():
                left = deadline - self.clock.monotonic()
                if left <= 0:
                    break
                # wake when the earliest slot lease runs out: its holder may have died
                expiry = self.core.next_slot_expiry_ms()
                nap = left if expiry is None else min(left, max(0.01, (expiry - self._now_ms()) / 1000))
                try:
                    await asyncio.wait_for(asyncio.shield(waiter.future), timeout=nap)
                except asyncio.TimeoutError:
                    self.core.expire(self._now_ms())
                    self._hand_over()
        except BaseException:
            # the caller went away (cancelled) after the slot was handed over: give it back
            if waiter.future.done() and not waiter.future.cancelled():
                self.core.release_slot(request_id, provider)
                self._hand_over()
            raise
        finally:
            if not waiter.future.done():
                waiter.future.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        waited_ms = int((self.clock.monotonic() - started) * 1000)
        if waiter.future.cancelled():
            return SlotAnswer(ok=False, reason="timeout", waited_ms=waited_ms,
                              message=f"no {provider} slot came free within {wait_s:g}s ({len(self._waiters)} still waiting)")
        # handed over while queued: only a claim until the caller asks again (confirms)
        return SlotAnswer(ok=True, waited_ms=waited_ms, confirm=True)

    async def release_slot(self, release: SlotRelease) -> SlotReleased:
        cfg = self._report(release.request_id, release.outcomes)
        released = self.core.release_slot(release.request_id, release.provider)
        self._hand_over()
        return SlotReleased(released, self._states(cfg))

    def _hand_over(self) -> None:
        """Grant free slots to waiters in arrival order (skipping only those whose
        own provider limit is full), synchronously, so nobody can cut in line."""
        if not self._waiters:
            return
        now = self._now_ms()
        cfg = self.core.config()  # once for the whole queue, not once per waiter
        for waiter in list(self._waiters):
            if waiter.future.done():
                self._waiters.remove(waiter)
                continue
            if self.core.try_acquire(waiter.request_id, waiter.provider, now, cfg, claim=True):
                self._waiters.remove(waiter)
                waiter.future.set_result(True)

    # --- configuration and reports ---------------------------------------------

    async def get_config(self) -> dict[str, Any]:
        return self.core.config()

    async def put_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        config = self.core.put_config(changes)
        self._hand_over()  # a raised limit frees waiters at once
        return config

    async def usage(self, day_from: str, day_to: str) -> UsageReport:
        report = self.core.usage(day_from, day_to, self._now_ms())
        return UsageReport(report["days"], report["budget"])

    async def sweep(self) -> SweepAnswer:
        """Expire leases, hand freed slots on, prune closed rows of days long past."""
        now = self._now_ms()
        expired = self.core.expire(now)
        breaker.prune(self.core.sql, self.core.config(), now)
        self._hand_over()
        return SweepAnswer(expired["expired_reservations"], expired["expired_slots"], self.core.prune(now))

    async def recover_after_restart(self) -> dict[str, Any]:
        """Local host only: every slot belonged to the process that died (see local/)."""
        answer = self.core.recover_after_restart(self._now_ms())
        self._hand_over()
        return answer


def _reserve_dict(request: ReserveRequest) -> dict[str, Any]:
    """The core's view of a reserve request (it reads plain fields; the slot is ours)."""
    fields = asdict(request)
    del fields["slot"], fields["outcomes"]
    if request.attempt_estimate_micros is None:
        del fields["attempt_estimate_micros"]
    return fields
