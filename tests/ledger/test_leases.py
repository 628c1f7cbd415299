"""Leases that cannot leak money or capacity: holds as long as the request, short
claims for slots handed to waiters that may be gone, recovery after a restart,
re-reservation on fallback, one call for reserve+slot and settle+release, and
running day totals that match the rows (including after an upgrade)."""

from __future__ import annotations

from pipeline.ledger_messages import ReleaseRequest, SettleRequest, SlotRelease, SlotRequest
from dataclasses import replace
import asyncio

import pytest

from local.ledger import SqliteSqlStorage, local_ledger
from pipeline.ledger import schema
from pipeline.ledger.core import LedgerCore
from pipeline.ledger.schema import _V1
from tests.fakes.ledger import req

pytestmark = [pytest.mark.today("2026-11-24"),  # the examples name their UTC days
              pytest.mark.ledger_config(reservation_lease_s=60, slot_lease_s=60)]


async def test_a_lease_shorter_than_the_request_cannot_let_two_requests_spend_the_same_money(ledger, clock):
    assert (await ledger.reserve(replace(req("long", 80_000), hold_s=420))).ok
    clock.advance(120)  # past the 60 s setting, within the request's own 420 s
    assert (await ledger.reserve(req("second", 80_000))).reason == "daily_budget"
    await ledger.settle(SettleRequest("long", 80_000))
    assert (await ledger.usage("2026-11-24", "2026-11-24")).budget["spent_today_micros"] == 80_000


async def test_reserve_and_slot_in_one_call_settle_gives_the_slot_back(ledger):
    answer = await ledger.reserve(replace(req("a", 10_000), slot=SlotRequest("openai", 1)))
    assert answer.ok and answer.slot.ok and not answer.slot.confirm
    assert (await ledger.usage("2026-11-24", "2026-11-24")).budget["slots_in_use"] == 1
    await ledger.settle(SettleRequest("a", 9_000))
    assert (await ledger.usage("2026-11-24", "2026-11-24")).budget["slots_in_use"] == 0
    refused = await ledger.reserve(replace(req("b", 200_000), slot=SlotRequest("openai", 1)))
    assert not refused.ok and refused.slot is None  # no money, no slot


async def test_a_slot_handed_to_a_vanished_waiter_comes_back_within_seconds(ledger, clock):
    await ledger.put_config({"global_concurrency": 1})
    assert (await ledger.acquire_slot("holder", "openai", 1)).ok
    gone = asyncio.create_task(ledger.acquire_slot("gone", "openai", 5))  # its caller will never read the answer
    await asyncio.sleep(0.02)
    await ledger.release_slot(SlotRelease("holder", "openai"))
    granted = await asyncio.wait_for(gone, 1)
    assert granted.ok and granted.confirm  # a claim, not yet a lease
    assert not (await ledger.acquire_slot("next", "openai", 0)).ok
    clock.advance(11)  # the claim (10 s) lapses unconfirmed
    assert (await ledger.acquire_slot("next", "openai", 0)).ok
    kinds = [r["kind"] for r in ledger.core.sql.exec("SELECT kind FROM ledger_events WHERE request_id = 'gone'")]
    assert kinds == ["slot_claim_expired"]


async def test_a_confirmed_claim_holds_for_the_full_lease(ledger, clock):
    await ledger.put_config({"global_concurrency": 1})
    await ledger.acquire_slot("holder", "openai", 1)
    waiter = asyncio.create_task(ledger.acquire_slot("waiter", "openai", 5))
    await asyncio.sleep(0.02)
    await ledger.release_slot(SlotRelease("holder", "openai"))
    assert (await asyncio.wait_for(waiter, 1)).confirm
    confirmed = await ledger.acquire_slot("waiter", "openai", 0)
    assert confirmed.ok and not confirmed.confirm
    clock.advance(30)
    await ledger.sweep()
    assert (await ledger.usage("2026-11-24", "2026-11-24")).budget["slots_in_use"] == 1


async def test_a_restart_frees_every_slot_of_the_dead_process(tmp_path, clock):
    path = str(tmp_path / "ledger.db")
    first = local_ledger(path, clock)
    for i in range(8):
        assert (await first.acquire_slot(f"r{i}", "openai", 0)).ok
    assert not (await first.acquire_slot("late", "openai", 0)).ok
    again = local_ledger(path, clock)  # the process was killed; a new one opens the same file
    assert (await again.recover_after_restart())["recovered_slots"] == 8
    assert (await again.acquire_slot("late", "openai", 0)).ok


async def test_a_fallback_re_reserves_the_difference_or_is_refused(ledger):
    assert (await ledger.reserve(req("r", 40_000))).reserved_micros == 40_000
    moved = await ledger.reserve(replace(req("r", 90_000), provider="gemini"))
    assert moved.ok and moved.reserved_micros == 90_000
    assert (await ledger.reserve(req("other", 20_000))).reason == "daily_budget"
    too_much = await ledger.reserve(req("r", 120_000))
    assert too_much.reason == "daily_budget" and ledger.core._reservation("r")["reserved_micros"] == 90_000
    lower = await ledger.reserve(req("r", 30_000))
    assert lower.ok and (await ledger.reserve(req("other", 20_000))).ok


async def test_day_totals_match_the_rows_and_old_rows_are_pruned(ledger, clock):
    for i in range(30):
        await ledger.reserve(req(f"r{i}", 1_000, caller=f"c{i % 3}"))
        if i % 3 == 0:
            await ledger.settle(SettleRequest(f"r{i}", 700))
        elif i % 3 == 1:
            await ledger.release(ReleaseRequest(f"r{i}", "failed"))
    assert _totals_match_rows(ledger.core)
    clock.advance(40 * 86_400)
    pruned = (await ledger.sweep()).pruned
    assert pruned["reservations"] == 30 and pruned["day_totals"] == 4  # 3 callers + everyone
    assert not ledger.core.sql.exec("SELECT 1 FROM reservations")


def test_an_old_ledger_is_upgraded_with_its_totals_back_filled():
    sql = SqliteSqlStorage()
    for statement in _V1:  # the schema as deployed before day totals
        sql.exec(statement)
    for i, (state, reserved, charged) in enumerate([("settled", 500, 400), ("reserved", 300, 0), ("released", 200, 0)]):
        sql.exec("INSERT INTO reservations (request_id, caller, provider, model, day, images, reserved_micros, state,"
                 " charged_micros, created_ms, expires_ms) VALUES (?, 'app', 'openai', 'm', '2026-11-24', 1, ?, ?, ?, 0, ?)",
                 f"old{i}", reserved, state, charged, 10**13)
    core = LedgerCore(sql)
    assert schema.held(sql, "2026-11-24") == (400, 300) == schema.held(sql, "2026-11-24", "app")
    assert _totals_match_rows(core)
    LedgerCore(sql)  # opening it again applies nothing twice
    assert schema.held(sql, "2026-11-24") == (400, 300)


def _totals_match_rows(core: LedgerCore) -> bool:
    rows = core.sql.exec(
        "SELECT day, caller, SUM(CASE WHEN state = 'settled' THEN charged_micros ELSE 0 END) AS spent,"
        " SUM(CASE WHEN state = 'reserved' THEN reserved_micros ELSE 0 END) AS reserved FROM reservations GROUP BY day, caller")
    for r in rows:
        if schema.held(core.sql, r["day"], r["caller"]) != (r["spent"], r["reserved"]):
            return False
    days = {r["day"] for r in rows}
    return all(schema.held(core.sql, d) == (sum(r["spent"] for r in rows if r["day"] == d),
                                             sum(r["reserved"] for r in rows if r["day"] == d)) for d in days)


def test_a_reserve_does_the_same_work_at_the_first_and_the_20000th_request_of_a_day():
    """Counted in SQLite VM steps, not time, so the test is exact on a noisy machine."""
    from bench.ledger import START_MS, fill

    def steps_per_reserve(day_requests: int) -> int:
        storage = SqliteSqlStorage()
        core = LedgerCore(storage)
        core.put_config({"daily_budget_micros": 10**12})
        fill(core, day_requests, START_MS)
        counter = [0]

        def tick() -> int:
            counter[0] += 1
            return 0

        storage._conn.set_progress_handler(tick, 1)
        core.reserve({"request_id": "probe", "caller": "c1", "provider": "openai", "model": "m", "images": 1,
                      "estimate_micros": 1}, START_MS)
        storage._conn.set_progress_handler(None, 1)
        return counter[0]

    empty, busy = steps_per_reserve(0), steps_per_reserve(20_000)
    print(f"\nSQLite VM steps per reserve: {empty} at 0 requests, {busy} at 20,000")
    assert busy <= empty * 1.1 + 50, (empty, busy)  # B-tree depth may add a handful of steps
