"""End to end over real sockets: the Worker's app under uvicorn streams the
provider's partial images to the caller as they arrive — not after the end."""

from __future__ import annotations

import json
import threading

import httpx

from pipeline.providers.placeholder import render_png
from tests.fakes.app_server import start_server
from tests.fakes.fixtures import load
from tests.fakes.server import StreamReply
from tests.fakes.openai import OPENAI_ENV


def _sse(event: str, payload: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


async def test_partial_images_reach_the_caller_before_the_provider_finishes(make_services, fake_server):
    openai = fake_server()
    previews = [render_png(f"preview {i}".encode(), 16, 16) for i in range(2)]
    final = render_png(b"final", 256, 256)
    release = threading.Event()

    def frames():
        for i, preview in enumerate(previews):
            yield _sse("image_generation.partial_image", load("openai", "partial_image", IMAGE=preview) | {"partial_image_index": i})
        assert release.wait(15), "the caller never saw the partial images"
        yield _sse("image_generation.completed", load("openai", "completed", IMAGE=final))

    openai.route("POST", "/v1/images/generations", lambda _req: StreamReply(frames()))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    base, stop = start_server(services)
    try:
        kinds = []
        with httpx.Client(timeout=20) as client:
            with client.stream("POST", f"{base}/v1/generations?stream=true&partial_images=2",  # noqa: ASYNC212 - the server runs in its own thread
                               json={"prompt": "stream me", "quality": "low"}) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                event = None
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        kinds.append(event)
                        if event == "partial_image" and data["index"] == 1:
                            release.set()  # the provider finishes only after the caller saw both previews
                        if event == "completed":
                            result = data["result"]
        assert kinds == ["accepted", "attempt", "partial_image", "partial_image", "image", "completed"]
        assert result["status"] == "succeeded" and result["actual_cost_micros"] == 8_410
        assert openai.received[0].json()["stream"] is True
    finally:
        stop()


async def test_a_caller_that_disconnects_does_not_lose_the_generation(make_services, fake_server):
    import asyncio

    from tests.fakes.server import Reply
    from tests.fakes.openai import openai_success

    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"late", 8, 8)), delay_s=0.5))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    base, stop = start_server(services)
    try:
        request_id = None
        with httpx.Client(timeout=20) as client:
            with client.stream("POST", f"{base}/v1/generations?stream=true&partial_images=0",  # noqa: ASYNC212 - the server runs in its own thread
                               json={"prompt": "hang up early"}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        request_id = json.loads(line[6:])["request_id"]
                        break  # hang up after the first event, while the provider is still working
        for _ in range(100):  # the row turns terminal, then the ledger is settled: wait for both
            row = await services.db.first("SELECT status FROM generation_requests WHERE id = ?", (request_id,))
            spent = (await services.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"]
            if row and row["status"] not in ("pending", "running") and spent:
                break
            await asyncio.sleep(0.05)
        full = await services.db.first("SELECT status, error_code, error_message FROM generation_requests WHERE id = ?", (request_id,))
        assert row == {"status": "succeeded"}, full
        assert (await services.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"] == 8_410
    finally:
        stop()
