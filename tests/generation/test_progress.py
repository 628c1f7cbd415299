"""Estimated progress (generation/progress.py): providers that do not stream get
`progress` events while their call runs, marked as estimates; native streams keep
their real previews only."""

from __future__ import annotations

import asyncio
import json
import time

from tests.clocks import TODAY
from pipeline.catalog import default_model
from pipeline.catalog import gemini as gemini_catalog
from pipeline.generation import progress
from pipeline.models import Event
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply, StreamReply
from tests.fakes.openai import OPENAI_ENV, openai_success

MODEL = default_model(gemini_catalog.CATALOG, TODAY)
GEMINI = f"/v1beta/models/{MODEL}:generateContent"
PNG = render_png(b"slow", 32, 32)
FAST_TICKS = {"PROGRESS_INTERVAL_S": "0.05", "PLACEHOLDER_ENABLED": "false", "MAX_ATTEMPTS_PER_PROVIDER": "1"}


def gemini_env(server) -> dict[str, str]:
    return {**FAST_TICKS, "GEMINI_API_KEY": "AIza-test", "GEMINI_BASE_URL": server.url}


async def stream(client, body: dict, query: str = "") -> list[tuple[str, dict]]:
    async with client.stream("POST", f"/v1/generations?stream=true{query}", json=body) as response:
        assert response.status_code == 200
        text = (await response.aread()).decode()
    return [(block.split("\n", 1)[0][7:], json.loads(block.split("data: ", 1)[1]))
            for block in text.strip().split("\n\n") if block.startswith("event:")]


def ticks(events: list[tuple[str, dict]]) -> list[dict]:
    return [data for kind, data in events if kind == "progress"]


async def test_a_slow_gemini_call_streams_rising_estimates_before_completed(make_services, client_for, fake_server):
    server = fake_server()
    server.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG), delay_s=0.6))
    services = make_services(gemini_env(server))
    client = client_for(services)

    started = time.monotonic()
    events = await stream(client, {"prompt": "a slow lighthouse", "provider": "gemini"})
    took = time.monotonic() - started
    kinds = [kind for kind, _ in events]
    assert kinds[:2] == ["accepted", "attempt"] and kinds[-2:] == ["image", "completed"]
    first = ticks(events)
    assert len(first) >= 5 and kinds.index("progress") < kinds.index("image")  # every 50 ms over a 600 ms call
    assert all(t["estimated"] is True and t["provider"] == "gemini" and t["model"] == MODEL and t["attempt"] == 1
               for t in first)
    # Nothing measured yet: the default for Gemini, and the percent follows the clock.
    assert {t["basis"] for t in first} == {"default"}
    assert {t["expected_ms"] for t in first} == {progress.DEFAULT_CALL_MS["gemini"]}
    elapsed = [t["elapsed_ms"] for t in first]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 400
    assert all(t["percent"] == t["elapsed_ms"] * 100 // t["expected_ms"] for t in first)
    assert took < 0.6 + 1.0  # the ticks did not hold the call up

    # The call took ~600 ms: the next estimate is that median, and the percent rises to the cap.
    recorded = services.registry.durations.recent("gemini", MODEL)
    assert len(recorded) == 1 and 600 <= recorded[0] < 1600
    second = ticks(await stream(client, {"prompt": "again", "provider": "gemini"}))
    assert {t["basis"] for t in second} == {"median of the last 1 calls"}
    assert {t["expected_ms"] for t in second} == {recorded[0]}
    percents = [t["percent"] for t in second]
    assert percents == sorted(percents) and percents[-1] >= 30 and max(percents) <= progress.CAP_PERCENT


async def test_the_estimate_is_the_median_of_recorded_calls_and_capped_below_100(make_services, client_for, fake_server):
    server = fake_server()
    server.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG), delay_s=0.5))
    services = make_services(gemini_env(server))
    for ms in (100, 120, 30_000):  # what earlier calls of this model took
        services.registry.durations.record("gemini", MODEL, ms)
    events = await stream(client_for(services), {"prompt": "slower than usual", "provider": "gemini"})
    seen = ticks(events)
    assert {t["expected_ms"] for t in seen} == {120}
    assert {t["basis"] for t in seen} == {"median of the last 3 calls"}
    assert seen[-1]["percent"] == progress.CAP_PERCENT < 100  # overdue: stays below 100 until the answer
    assert events[-1][0] == "completed" and events[-1][1]["result"]["status"] == "succeeded"


async def test_progress_stops_when_the_call_fails_and_leaves_no_task(make_services, client_for, fake_server):
    server = fake_server()
    server.route("POST", GEMINI, Reply(400, load("gemini", "invalid_argument"), delay_s=0.4))
    services = make_services(gemini_env(server))
    events = await stream(client_for(services), {"prompt": "doomed", "provider": "gemini"})
    kinds = [kind for kind, _ in events]
    assert "progress" in kinds and kinds[-1] == "failed"
    assert kinds.index("failed") > max(i for i, k in enumerate(kinds) if k == "progress")
    assert services.registry.durations.recent("gemini", MODEL) == []  # a failure is no basis for an estimate
    await asyncio.sleep(0.2)  # several tick intervals: nothing ticks on
    assert not [t for t in asyncio.all_tasks() if "advance" in repr(t.get_coro())]


async def test_openai_native_previews_get_no_estimates_but_its_plain_calls_do(make_services, client_for, fake_server):
    openai = fake_server()

    def frames():
        for i in range(2):
            yield (f"event: image_generation.partial_image\ndata: "
                   f"{json.dumps(load('openai', 'partial_image', IMAGE=PNG) | {'partial_image_index': i})}\n\n").encode()
        yield f"event: image_generation.completed\ndata: {json.dumps(load('openai', 'completed', IMAGE=PNG))}\n\n".encode()

    openai.route("POST", "/v1/images/generations", lambda req: StreamReply(frames(), pause_s=0.2) if req.json().get("stream")
                 else Reply(200, openai_success(PNG), delay_s=0.4))
    client = client_for(make_services({**OPENAI_ENV, **FAST_TICKS, "OPENAI_BASE_URL": openai.url}))

    native = [kind for kind, _ in await stream(client, {"prompt": "p", "quality": "low"}, "&partial_images=2")]
    assert native == ["accepted", "attempt", "partial_image", "partial_image", "image", "completed"]
    plain = await stream(client, {"prompt": "p", "quality": "low"}, "&partial_images=0")
    assert ticks(plain) and {t["provider"] for t in ticks(plain)} == {"openai"}
    assert all(t["estimated"] is True for t in ticks(plain))


async def test_a_plain_json_call_is_measured_for_the_next_stream(make_services, client_for, fake_server):
    server = fake_server()
    server.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG), delay_s=0.3))
    services = make_services(gemini_env(server))
    response = await client_for(services).post("/v1/generations", json={"prompt": "plain", "provider": "gemini"})
    assert response.status_code == 201
    recorded = services.registry.durations.recent("gemini", MODEL)
    assert len(recorded) == 1 and recorded[0] >= 300
    assert progress.estimate(services.registry.durations, "gemini", "gemini", MODEL, calls=2).expected_ms == 2 * recorded[0]


async def _slow(seconds: float, log: list[str]):
    try:
        await asyncio.sleep(seconds)
        yield Event(type="image", request_id="gen_x")
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    finally:
        log.append("closed")


async def test_ticks_neither_slow_nor_cancel_the_call():
    log: list[str] = []
    make = lambda: Event(type="progress", request_id="gen_x")  # noqa: E731 - the event factory with_progress takes, named for reading
    started = time.monotonic()
    out = [e.type async for e in progress.with_progress(_slow(0.3, log), make, 0.01)]
    assert out[-1] == "image" and out.count("progress") >= 10
    assert time.monotonic() - started < 0.45 and log == ["closed"]


async def test_cancelling_the_stream_cancels_the_call_and_leaves_nothing_running():
    log: list[str] = []
    make = lambda: Event(type="progress", request_id="gen_x")  # noqa: E731 - the event factory with_progress takes, named for reading

    async def consume() -> None:
        async for _ in progress.with_progress(_slow(10, log), make, 0.01):
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert log == ["cancelled", "closed"]
    assert not [t for t in asyncio.all_tasks() if "advance" in repr(t.get_coro())]
