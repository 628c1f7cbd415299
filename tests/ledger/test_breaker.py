"""The shared provider breakers (ledger/breaker.py) on the injected clock: thresholds over a
window, the cooldown, one half-open probe under concurrency, which failures count, and a
provider's Retry-After holding it back for everyone."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from pipeline.ledger_messages import Outcome, ReleaseRequest, SettleRequest, SlotRelease
from tests.fakes.ledger import req

FAIL = Outcome("openai", "gpt-image-1", False, "provider_unavailable", 900, unwell=True)
OK = Outcome("openai", "gpt-image-1", True, latency_ms=4_000)


async def _fail(ledger, rid: str, times: int = 1, outcome: Outcome = FAIL) -> None:
    await ledger.reserve(req(rid, 1_000))
    await ledger.release(ReleaseRequest(rid, outcome.code or "failed", (outcome,) * times))


def _state(answer) -> str:
    return next((p.state for p in answer.providers if (p.provider, p.model) == ("openai", "gpt-image-1")), "closed")


async def test_it_opens_after_the_threshold_and_refuses_without_holding_money(ledger):
    await _fail(ledger, "a", times=2)
    assert (await ledger.reserve(req("b", 1_000))).ok  # 2 of 2 failed: under the count of 3
    answer = await ledger.release(ReleaseRequest("b", "provider_timeout", (FAIL,)))
    assert _state(answer) == "open"
    refused = await ledger.reserve(req("c", 1_000))
    assert (refused.ok, refused.reason) == (False, "provider_open") and refused.retry_after_s == pytest.approx(30, abs=0.5)
    assert (await ledger.usage("2026-11-20", "2026-11-20")).budget["reserved_now_micros"] == 0
    assert (await ledger.reserve(req("d", 1_000, provider="gemini"))).ok  # only that provider and model
    assert (await ledger.reserve(replace(req("e", 1_000), try_open_provider=True))).ok  # asked to try anyway
    states = {(p.provider, p.model): p for p in await ledger.breakers()}
    assert states[("openai", "gpt-image-1")].failures == 3 and states[("openai", "gpt-image-1")].calls == 3


async def test_the_percentage_and_the_window_keep_a_busy_healthy_provider_closed(ledger, clock):
    await ledger.put_config({"breaker_failures": 3, "breaker_failure_percent": 50, "breaker_min_calls": 3})
    await ledger.reserve(req("ok", 1_000))
    await ledger.settle(SettleRequest("ok", 1_000, outcomes=(OK,) * 6))
    await _fail(ledger, "a", times=4)  # 4 of 10: under half
    assert (await ledger.reserve(req("b", 1_000))).ok
    clock.advance(61)  # the window moved on: the old calls say nothing
    await _fail(ledger, "c", times=2)
    assert (await ledger.reserve(req("d", 1_000))).ok


async def test_only_failures_that_say_the_provider_is_unwell_count(ledger):
    refused = Outcome("openai", "gpt-image-1", False, "provider_refused")  # a safety refusal
    bad = Outcome("openai", "gpt-image-1", False, "provider_invalid_request")
    await _fail(ledger, "a", times=5, outcome=refused)
    await _fail(ledger, "b", times=5, outcome=bad)
    assert (await ledger.reserve(req("c", 1_000))).ok


async def test_after_the_cooldown_one_probe_goes_through_and_its_success_closes_it(ledger, clock):
    await _fail(ledger, "a", times=3)
    clock.advance(31)
    answers = await asyncio.gather(*(ledger.reserve(req(f"p{i}", 1_000)) for i in range(10)))
    probes = [a for a in answers if a.probe]
    assert len(probes) == 1 and probes[0].ok
    assert sum(a.ok for a in answers) == 1 and {a.reason for a in answers if not a.ok} == {"provider_open"}
    probe = f"p{answers.index(probes[0])}"
    answer = await ledger.settle(SettleRequest(probe, 1_000, outcomes=(OK,)))
    assert _state(answer) == "closed" and (await ledger.reserve(req("after", 1_000))).ok


async def test_a_failed_probe_opens_it_again_and_a_probe_that_never_called_frees_the_turn(ledger, clock):
    await _fail(ledger, "a", times=3)
    clock.advance(31)
    first = await ledger.reserve(req("p1", 1_000))
    assert first.probe
    await ledger.release(ReleaseRequest("p1", "cancelled"))  # never called the provider
    second = await ledger.reserve(req("p2", 1_000))
    assert second.probe
    answer = await ledger.release_slot(SlotRelease("p2", "openai", (FAIL,)))
    assert _state(answer) == "open" and not (await ledger.reserve(req("p3", 1_000))).ok


async def test_a_retry_after_holds_the_provider_back_for_everyone_uncounted(ledger, clock):
    limited = Outcome("openai", "gpt-image-1", False, "provider_rate_limited", 200, retry_after_s=20)
    await _fail(ledger, "a", outcome=limited)
    held = await ledger.reserve(req("b", 1_000))
    assert (held.reason, held.retry_after_s) == ("provider_held", pytest.approx(20, abs=0.5))
    clock.advance(21)
    assert (await ledger.reserve(req("c", 1_000))).ok
    assert next(p for p in await ledger.breakers()).failures == 0


async def test_breaker_settings_are_validated(ledger):
    from pipeline import errors

    for bad in ({"breaker_cooldown_s": 5}, {"breaker_failure_percent": 101}, {"breaker_min_calls": 0}):
        with pytest.raises(errors.InvalidRequest):
            await ledger.put_config(bad)
