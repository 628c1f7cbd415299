"""The ledger, example by example: budgets, caps, two-phase accounting, leases,
UTC days, run-time configuration, and first-come-first-served concurrency."""

from __future__ import annotations

from pipeline.ledger_messages import ReleaseRequest, SettleAnswer, SettleRequest, SlotRelease
import asyncio

import pytest

from local.ledger import local_ledger
from pipeline.errors import InvalidRequest
from tests.fakes.ledger import req

pytestmark = pytest.mark.today("2026-11-24")  # the examples name their UTC days


async def test_reserve_until_the_budget_is_spoken_for(ledger):
    assert (await ledger.reserve(req("a", 60_000))).ok
    refused = await ledger.reserve(req("b", 50_000))
    assert refused.ok is False and refused.reason == "daily_budget"
    assert "40000 of 100000" in refused.message
    assert refused.remaining.global_micros == 40_000
    assert (await ledger.reserve(req("c", 40_000))).ok  # exactly to the budget is allowed


async def test_settle_charges_actual_and_records_the_difference(ledger):
    await ledger.reserve(req("a", 60_000))
    settled = await ledger.settle(SettleRequest("a", 45_000, note={"images": 1}))
    assert settled == SettleAnswer(charged_micros=45_000, difference_micros=-15_000, already_settled=False)
    again = await ledger.settle(SettleRequest("a", 45_000))
    assert again.already_settled is True and again.charged_micros == 45_000
    status = (await ledger.usage("2026-11-24", "2026-11-24")).budget
    assert status["spent_today_micros"] == 45_000 and status["remaining_micros"] == 55_000
    # a provider that billed more than estimated: the truth is charged and the overrun recorded
    await ledger.reserve(req("b", 10_000))
    over = await ledger.settle(SettleRequest("b", 12_000))
    assert over.difference_micros == 2_000
    kinds = [r["kind"] for r in ledger.core.sql.exec("SELECT kind FROM ledger_events WHERE request_id = 'b' ORDER BY id")]
    assert kinds == ["reserved", "settled", "overrun"]


async def test_release_is_idempotent_and_frees_the_money(ledger):
    await ledger.reserve(req("a", 100_000))
    assert (await ledger.reserve(req("b", 1))).ok is False
    assert (await ledger.release(ReleaseRequest("a", "provider_unavailable"))).already is False
    assert (await ledger.release(ReleaseRequest("a", "again"))).already is True
    assert (await ledger.reserve(req("b", 100_000))).ok
    # reserving an id that was closed is refused, reserving an open one is a no-op
    assert (await ledger.reserve(req("a", 1))).reason == "closed"
    assert (await ledger.reserve(req("b", 100_000))).already is True


async def test_caps_and_caller_budgets(ledger):
    capped = await ledger.reserve(req("a", 30_000, cap=20_000))
    assert capped.reason == "request_cap"
    await ledger.put_config({"max_cost_per_image_micros": 10_000})
    assert (await ledger.reserve(req("b", 25_000, images=2))).reason == "request_cap"
    assert (await ledger.reserve(req("c", 20_000, images=2))).ok
    await ledger.put_config({"caller_daily_budget_micros": {"kid": 15_000}, "default_caller_daily_budget_micros": 50_000})
    assert (await ledger.reserve(req("d", 10_000, caller="kid"))).ok
    refused = await ledger.reserve(req("e", 10_000, caller="kid"))
    assert refused.reason == "caller_budget" and refused.remaining.caller_micros == 5_000
    assert (await ledger.reserve(req("f", 10_000, caller="someone"))).ok  # default caller budget applies
    usage = await ledger.usage("2026-11-24", "2026-11-24")
    assert usage.budget["callers"]["kid"]["remaining_micros"] == 5_000
    assert usage.days[0]["totals"]["refused"] == 3


async def test_an_expired_reservation_is_released_and_recorded(ledger, clock):
    await ledger.put_config({"reservation_lease_s": 60})
    await ledger.reserve(req("dead", 100_000))
    assert (await ledger.reserve(req("b", 10_000))).ok is False
    clock.advance(61)
    swept = await ledger.sweep()
    assert (swept.expired_reservations, swept.expired_slots) == (1, 0)
    assert (await ledger.reserve(req("b", 10_000))).ok
    state = ledger.core.sql.exec("SELECT state FROM reservations WHERE request_id = 'dead'")[0]["state"]
    assert state == "expired"
    assert ledger.core.sql.exec("SELECT kind FROM ledger_events WHERE request_id = 'dead' AND kind = 'expired'")


async def test_a_new_utc_day_starts_from_zero_and_past_days_stay(ledger, clock):
    clock.advance(11 * 3600 + 59 * 60)  # 23:59 UTC
    await ledger.reserve(req("late", 90_000))
    await ledger.settle(SettleRequest("late", 90_000))
    assert (await ledger.reserve(req("x", 20_000))).reason == "daily_budget"
    clock.advance(120)  # 00:01 the next day, no job ran
    assert (await ledger.reserve(req("early", 90_000))).ok
    usage = await ledger.usage("2026-11-24", "2026-11-25")
    assert [(d["day"], d["totals"]["spent_micros"]) for d in usage.days] == [("2026-11-24", 90_000), ("2026-11-25", 0)]
    assert usage.budget["day"] == "2026-11-25"


async def test_config_is_validated_and_persisted(clock, tmp_path):
    path = str(tmp_path / "ledger.db")
    ledger = local_ledger(path, clock)
    for bad in ({"daily_budget_micros": -1}, {"daily_budget_micros": 1.5}, {"nope": 1}, {"global_concurrency": 0},
                {"provider_concurrency": {"openai": 0}}, {}):
        with pytest.raises(InvalidRequest):
            await ledger.put_config(bad)
    await ledger.put_config({"daily_budget_micros": 5, "provider_concurrency": {"openai": 2}})
    reopened = local_ledger(path, clock)
    config = await reopened.get_config()
    assert config["daily_budget_micros"] == 5 and config["provider_concurrency"] == {"openai": 2}


async def test_slots_are_handed_over_in_arrival_order(ledger):
    await ledger.put_config({"global_concurrency": 1})
    assert (await ledger.acquire_slot("first", "openai", 1)).ok
    order: list[str] = []

    async def wait(name: str) -> None:
        answer = await ledger.acquire_slot(name, "openai", 5)
        assert answer.ok
        order.append(name)
        await asyncio.sleep(0.01)
        await ledger.release_slot(SlotRelease(name, "openai"))

    tasks = []
    for name in ("w1", "w2", "w3"):
        tasks.append(asyncio.create_task(wait(name)))
        await asyncio.sleep(0.01)  # arrive in this order
    await ledger.release_slot(SlotRelease("first", "openai"))
    await asyncio.gather(*tasks)
    assert order == ["w1", "w2", "w3"]


async def test_waiting_is_bounded(ledger):
    await ledger.put_config({"global_concurrency": 2, "provider_concurrency": {"gemini": 1}})
    assert (await ledger.acquire_slot("a", "gemini", 1)).ok
    timed_out = await ledger.acquire_slot("b", "gemini", 0.2)
    assert timed_out.ok is False and timed_out.reason == "timeout" and timed_out.waited_ms >= 200
    # the provider limit does not hold back another provider while the global limit allows
    assert (await ledger.acquire_slot("c", "openai", 0.2)).ok
    assert (await ledger.usage("2026-11-24", "2026-11-24")).budget["slots_in_use"] == 2


async def test_a_dead_holders_slot_is_reclaimed_when_its_lease_ends(ledger, clock):
    await ledger.put_config({"global_concurrency": 1, "slot_lease_s": 60})
    assert (await ledger.acquire_slot("dead", "openai", 1)).ok
    waiting = asyncio.create_task(ledger.acquire_slot("next", "openai", 5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    clock.advance(61)
    await ledger.sweep()  # the cron (or any later call) notices the lease ended
    answer = await asyncio.wait_for(waiting, 1)
    assert answer.ok
    assert ledger.core.sql.exec("SELECT kind FROM ledger_events WHERE request_id = 'dead'")[0]["kind"] == "slot_expired"


async def test_a_cancelled_waiter_does_not_keep_a_slot(ledger):
    await ledger.put_config({"global_concurrency": 1})
    await ledger.acquire_slot("a", "openai", 1)
    waiter = asyncio.create_task(ledger.acquire_slot("b", "openai", 5))
    await asyncio.sleep(0.02)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await ledger.release_slot(SlotRelease("a", "openai"))
    assert (await ledger.acquire_slot("c", "openai", 0.1)).ok
