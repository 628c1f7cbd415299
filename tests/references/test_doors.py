"""Entity references through the queued doors: a job runs them as a generation does; a batch
item asking for the economy lane runs in the standard lane, saying why (the batch APIs are not
sent reference images), and records the references like any generation."""

from __future__ import annotations

import json

from local.queue import InProcessQueue
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply

OUT = render_png(b"queued", 64, 64)
REF = [{"entity_type": "location", "entity_id": "harbour", "usage": "scene"}]


async def _with_primary(client) -> str:
    made = (await client.post("/v1/generations", json={"prompt": "the harbour", "provider": "placeholder"})).json()
    image_id = made["images"][0]["id"]
    await client.post(f"/v1/images/{image_id}/approve", json={"reviewer": "ed"})
    assert (await client.put("/v1/entities/location/harbour/primary/establishing", json={"image_id": image_id})).status_code == 200
    return image_id


async def test_a_job_sends_and_records_references(make_services, client_for, fake_server):
    server = fake_server()
    server.fallback = lambda req: Reply(200, load("gemini", "references", IMAGE=OUT))
    services = make_services({"GEMINI_API_KEY": "AIza-t", "GEMINI_BASE_URL": server.url}, queue=InProcessQueue(paused=True))
    client = client_for(services)
    image_id = await _with_primary(client)
    job = await client.post("/v1/jobs", json={"prompt": "a boat leaves the harbour", "references": REF})
    assert job.status_code == 202, job.text
    await services.queue.run()
    view = (await client.get(f"/v1/jobs/{job.json()['id']}")).json()
    assert view["status"] == "succeeded", view
    assert view["result"]["references"][0]["image_id"] == image_id
    parts = server.received[-1].json()["contents"][0]["parts"]
    assert [("text" in p, "inlineData" in p) for p in parts] == [(True, False), (False, True)]


async def test_an_economy_item_with_references_runs_in_the_standard_lane_and_says_why(make_services, client_for, fake_server):
    server = fake_server()
    server.fallback = lambda req: Reply(200, load("gemini", "references", IMAGE=OUT))
    services = make_services({"GEMINI_API_KEY": "AIza-t", "GEMINI_BASE_URL": server.url},
                             queue=InProcessQueue(paused=True))
    client = client_for(services)
    image_id = await _with_primary(client)
    body = {"items": [{"prompt": "night at the harbour", "provider": "gemini", "references": REF}], "lane": "economy"}
    response = await client.post("/v1/batches", json=body)
    assert response.status_code == 202, response.text
    await services.queue.run()
    view = (await client.get(f"/v1/batches/{response.json()['id']}")).json()
    assert view["counts"] == {"succeeded": 1}
    assert "reference images count against gemini's 20 MB inline batch request" in json.dumps(view)
    assert view["items"][0]["result"]["references"][0]["image_id"] == image_id
    assert not any(r.path.endswith(":batchGenerateContent") for r in server.received)
