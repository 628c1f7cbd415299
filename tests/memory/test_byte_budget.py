"""The isolate's budget of image bytes in flight (memory/byte_budget.py): a request
that does not fit waits (first come, first served) and is refused, typed and
retryable, when nothing comes free within its wait. Time is the injected clock:
its sleeps are free and move it ahead, so the waits are exact and take no time."""

from __future__ import annotations

import asyncio

import pytest

from pipeline import errors
from pipeline.memory.byte_budget import POLL_S, RETRY_AFTER_S, ByteBudget
from tests.clocks import clock_at

MB = 1_000_000


@pytest.fixture
def budget() -> ByteBudget:
    return ByteBudget(10 * MB, clock_at(instant_sleep=True))


async def test_what_fits_is_taken_at_once_and_given_back_at_the_end(budget):
    async with budget.hold("gen_a", wait_s=5) as a:
        await a.take(4 * MB, "inputs")
        await a.take(5 * MB, "answers")
        assert budget.held == 9 * MB and a.bytes == 9 * MB
    assert budget.held == 0
    assert budget.clock.slept_s == 0  # never waited
    assert budget.view() == {"capacity_bytes": 10 * MB, "held_bytes": 0, "waiting": 0, "peak_bytes": 9 * MB,
                              "waited": 0, "refused": 0}


async def test_a_request_that_does_not_fit_waits_for_bytes_to_come_free(budget):
    first = budget.hold("gen_first", wait_s=5)
    await first.take(8 * MB, "answers")

    async def release_after(seconds: float) -> None:
        start = budget.clock.monotonic()
        while budget.clock.monotonic() - start < seconds:
            await budget.clock.sleep(POLL_S)
        first.release()

    async def second() -> float:
        start = budget.clock.monotonic()
        async with budget.hold("gen_second", wait_s=5) as hold:
            await hold.take(4 * MB, "answers")
            return budget.clock.monotonic() - start

    waited, _ = await asyncio.gather(second(), release_after(2.0))
    assert 2.0 <= waited < 2.0 + 3 * POLL_S  # it went as soon as the first let go, not at its deadline
    assert budget.held == 0 and budget.stats.waited == 1 and budget.stats.refused == 0


async def test_nothing_comes_free_within_the_wait_refused_typed_and_retryable(budget):
    hog = budget.hold("gen_hog", wait_s=5)
    await hog.take(10 * MB, "answers")
    start = budget.clock.monotonic()
    with pytest.raises(errors.IsolateBusy) as raised:
        async with budget.hold("gen_late", wait_s=3) as hold:
            await hold.take(1 * MB, "its provider calls")
    exc = raised.value
    assert 3.0 <= budget.clock.monotonic() - start < 3.0 + 2 * POLL_S
    assert (exc.code, exc.status, exc.retryable, exc.fallback) == ("isolate_busy", 503, True, False)
    assert exc.retry_after_s == RETRY_AFTER_S
    assert exc.details == {"request_id": "gen_late", "needed_bytes": 1 * MB, "held_bytes": 10 * MB,
                           "capacity_bytes": 10 * MB}
    assert budget.held == 10 * MB and budget.view()["waiting"] == 0  # the refused one left the queue
    assert budget.stats.refused == 1


async def test_a_request_larger_than_the_budget_runs_alone(budget):
    async with budget.hold("gen_huge", wait_s=1) as huge:
        await huge.take(25 * MB, "inputs")
        assert budget.held == 10 * MB  # all of it, never more
        await huge.take(5 * MB, "answers")  # already holds the whole budget
        assert budget.held == 10 * MB
        with pytest.raises(errors.IsolateBusy):
            await budget.hold("gen_small", wait_s=1).take(1, "answers")
    assert budget.held == 0


async def test_first_come_first_served_a_small_request_does_not_pass_a_waiting_large_one(budget):
    hog = budget.hold("gen_hog", wait_s=5)
    await hog.take(6 * MB, "answers")
    order: list[str] = []

    async def want(name: str, nbytes: int, after_s: float = 0.0) -> None:
        await budget.clock.sleep(after_s)
        hold = budget.hold(name, wait_s=10)
        await hold.take(nbytes, "answers")
        order.append(name)
        await budget.clock.sleep(1.0)
        hold.release()

    async def free_hog() -> None:
        await budget.clock.sleep(2.0)
        hog.release()

    # the large one asks first; the small one (which would fit beside the hog) asks later
    await asyncio.gather(want("large", 8 * MB), want("small", 3 * MB, after_s=0.5), free_hog())
    assert order == ["large", "small"]


async def test_a_request_growing_its_hold_goes_before_the_queue(budget):
    """An edit holds its inputs and then asks for its answers' bytes: it must not wait
    behind a request that is waiting for the bytes it holds (both would time out)."""
    edit = budget.hold("gen_edit", wait_s=5)
    await edit.take(6 * MB, "its input images")
    waiting = asyncio.ensure_future(budget.hold("gen_other", wait_s=5).take(8 * MB, "answers"))
    await asyncio.sleep(0)
    assert budget.view()["waiting"] == 1
    await edit.take(4 * MB, "its provider calls")  # fits beside nothing but itself: no wait
    assert budget.held == 10 * MB and budget.clock.slept_s < POLL_S * 2
    edit.release()
    await waiting
    assert budget.held == 8 * MB
