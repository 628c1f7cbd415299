"""Batches and async jobs through the queue: partial success, SSE progress, redelivery
after a crash without paying twice, async jobs, a refusing queue."""

from __future__ import annotations

import asyncio
import json

from local.queue import InProcessQueue
from pipeline.generation.generation import Generation
from pipeline.generation.state import Admitted
from pipeline.models import GenerationRequest
from pipeline.providers.placeholder import render_png
from pipeline.storage import batches as rows
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.openai import openai_success

PNG = render_png(b"batch", 1024, 1024)


def openai_fake(fake_server):
    """OpenAI's wire format; a prompt containing 'forbidden' meets its safety system."""
    server = fake_server()

    def answer(req):
        if "forbidden" in req.json()["prompt"]:
            return Reply(400, load("openai", "moderation_blocked"))
        return Reply(200, openai_success(PNG))

    server.route("POST", "/v1/images/generations", answer)
    return server


def services_with(make_services, server, **env):
    return make_services({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url, **env},
                         queue=InProcessQueue(paused=True))


def sse_frames(text: str) -> list[tuple[str, dict]]:
    frames = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            frames.append((lines["event"], json.loads(lines["data"])))
    return frames


async def test_batch_with_a_failing_item_is_a_partial_success(make_services, client_for, fake_server):
    openai = openai_fake(fake_server)
    services = services_with(make_services, openai, BATCH_CONCURRENCY="2", PROGRESS_INTERVAL_S="0.02")
    client = client_for(services)
    items = [{"prompt": "a fox", "provider": "openai", "quality": "low"},
             {"prompt": "something forbidden", "provider": "openai", "quality": "low"},
             {"prompt": "a lighthouse", "provider": "placeholder"}]
    response = await client.post("/v1/batches", json={"items": items, "caller": "app-1"})
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    assert response.json()["status"] == "queued" and openai.received == []  # answered before any work

    queued = (await client.get(f"/v1/batches/{batch_id}")).json()
    assert queued["counts"] == {"queued": 3} and queued["status"] == "queued"

    stream, _ = await asyncio.gather(client.get(f"/v1/batches/{batch_id}/events"), services.queue.run())
    view = (await client.get(f"/v1/batches/{batch_id}")).json()
    assert view["status"] == "completed" and view["counts"] == {"succeeded": 2, "failed": 1}
    ok, refused, placeholder = view["items"]
    assert ok["result"]["provider"] == "openai" and ok["result"]["images"][0]["url"]
    # the item mirrors its stored generation: failed, by a safety refusal
    assert refused["status"] == "failed" and refused["error"]["code"] == "provider_refused"
    assert refused["result"]["status"] == "failed" and refused["result"]["error"]["code"] == "provider_refused"
    assert placeholder["result"]["provider"] == "placeholder"
    assert len(openai.received) == 2  # a refusal is never retried

    frames = sse_frames(stream.text)
    assert frames[0][0] == "batch" and frames[-1][0] == "completed"
    assert frames[-1][1]["counts"] == {"succeeded": 2, "failed": 1}
    finals = {d["index"]: d["status"] for kind, d in frames if kind == "item" and d["status"] != "running"}
    assert finals == {0: "succeeded", 1: "failed", 2: "succeeded"}


async def test_redelivery_after_a_crash_does_not_pay_twice(make_services, client_for, fake_server):
    openai = openai_fake(fake_server)
    services = services_with(make_services, openai)
    client = client_for(services)
    batch_id = (await client.post("/v1/batches", json={"items": [{"prompt": "a fox", "provider": "openai", "quality": "low"}]})).json()["id"]

    async def dies_after_generating(messages):
        """The first delivery: the item starts, the generation runs and is paid for,
        then the isolate dies before the item is recorded or the message acked."""
        for m in messages:
            item = await rows.item(services.db, m["body"]["batch_id"], m["body"]["idx"])
            generation = Generation(services, Admitted.new(services, GenerationRequest.model_validate(json.loads(item["body"]))))
            await rows.start_item(services.db, batch_id, 0, generation.request_id, "2026-01-01T00:00:00.000Z")
            await generation.result()
        services.queue.bind(real_consumer)
        raise RuntimeError("isolate killed")

    from pipeline.queued import consumer

    def real_consumer(messages):
        return consumer.consume(services, messages)

    services.queue.bind(dies_after_generating)
    await services.queue.run()
    assert [(d["attempts"], d["outcome"]) for d in services.queue.delivered] == [(1, "retry"), (2, "ack")]
    view = (await client.get(f"/v1/batches/{batch_id}")).json()
    assert view["status"] == "completed" and view["items"][0]["status"] == "succeeded"
    assert view["items"][0]["deliveries"] == 2
    assert len(openai.received) == 1  # the provider was called once
    requests = await services.db.all("SELECT id, actual_cost_micros FROM generation_requests")
    assert [r["id"] for r in requests] == [view["items"][0]["request_id"]]
    cost = requests[0]["actual_cost_micros"]
    assert cost > 0
    spent = await services.db.all("SELECT outcome, cost_micros FROM usage_events")
    assert spent == [{"outcome": "succeeded", "cost_micros": cost}]  # one billed attempt


async def test_async_job_answers_202_then_polls_to_the_result(make_services, client_for):
    services = make_services(queue=InProcessQueue(paused=True))
    client = client_for(services)
    response = await client.post("/v1/jobs", json={"prompt": "a lighthouse", "n": 2})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    assert job_id.startswith("job_") and response.headers["location"] == f"/v1/jobs/{job_id}"
    assert (await client.get(f"/v1/jobs/{job_id}")).json()["status"] == "queued"
    await services.queue.run()
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert job["status"] == "succeeded" and len(job["result"]["images"]) == 2 and job["completed_at"]
    assert (await client.get(f"/v1/jobs/bat_{job_id[4:]}")).status_code == 404


async def test_a_refusing_queue_fails_loudly_and_loses_nothing(make_services, client_for):
    class Refusing(InProcessQueue):
        async def send_batch(self, bodies):
            raise ConnectionError("queue down")

    services = make_services(queue=Refusing())
    client = client_for(services)
    response = await client.post("/v1/batches", json={"items": [{"prompt": "a"}, {"prompt": "b"}]})
    assert response.status_code == 503 and response.json()["error"]["code"] == "queue_unavailable"
    batch_id = response.json()["error"]["details"]["batch_id"]
    view = (await client.get(f"/v1/batches/{batch_id}")).json()
    assert view["status"] == "completed" and view["counts"] == {"failed": 2}


def test_the_local_queue_delivers_as_the_deployed_consumer_is_configured():
    """The same batch size and redeliveries as wrangler.toml's consumer, so the local server and
    the tests see what production sees (e.g. how long a message lives before the dead-letter queue)."""
    import tomllib
    from pathlib import Path

    consumer = tomllib.loads((Path(__file__).resolve().parents[2] / "wrangler.toml").read_text())["queues"]["consumers"][0]
    queue = InProcessQueue()
    assert (queue.max_batch, queue.max_retries) == (consumer["max_batch_size"], consumer["max_retries"])
