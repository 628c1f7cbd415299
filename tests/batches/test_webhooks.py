"""Webhooks: the signed body a receiver gets when a job ends, retries with backoff,
no retry of a permanent refusal, and no webhooks without a signing secret."""

from __future__ import annotations

import json

from local.queue import InProcessQueue
from pipeline import webhooks
from tests.fakes.server import Reply

SECRET = "whsec-test-0123456789"
ENV = {"WEBHOOK_SECRET": SECRET, "WEBHOOK_RETRY_BASE_S": "0.01", "WEBHOOK_MAX_ATTEMPTS": "4",
       "WEBHOOK_ALLOW_LOCAL": "true"}  # the receiver is a fake on 127.0.0.1


async def test_signed_webhook_retried_until_the_receiver_takes_it(make_services, client_for, fake_server):
    receiver = fake_server()
    receiver.sequence("POST", "/hook", [Reply(503), Reply(500), Reply(204)])
    services = make_services(ENV, queue=InProcessQueue(paused=True))
    client = client_for(services)
    job = (await client.post("/v1/jobs", json={"prompt": "a lighthouse", "webhook_url": f"{receiver.url}/hook"})).json()
    await services.queue.run()

    assert len(receiver.received) == 3
    first, *_, last = receiver.received
    assert {r.headers["webhook-id"] for r in receiver.received} == {f"{job['id']}.completed"}
    assert [r.headers["webhook-attempt"] for r in receiver.received] == ["1", "2", "3"]
    assert first.body == last.body  # the same event each time
    assert webhooks.verify(SECRET, last.body, last.headers["webhook-signature"], int(services.clock.now().timestamp()))
    assert not webhooks.verify("wrong-secret", last.body, last.headers["webhook-signature"], int(services.clock.now().timestamp()))
    assert not webhooks.verify(SECRET, last.body.replace(b"succeeded", b"failed"), last.headers["webhook-signature"], int(services.clock.now().timestamp()))
    assert not webhooks.verify(SECRET, last.body, last.headers["webhook-signature"], int(services.clock.now().timestamp()) + 3600)  # replayed later
    event = json.loads(last.body)
    assert event["type"] == "job.completed" and event["data"]["id"] == job["id"]
    assert event["data"]["items"][0]["status"] == "succeeded" and event["data"]["items"][0]["result"]["images"]
    assert SECRET not in last.body.decode()

    view = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert view["webhook"] == {"url_set": True, "status": "delivered"}  # nothing more: how it failed is not the caller's
    row = await services.db.first("SELECT webhook_attempts FROM batches WHERE id = ?", (job["id"],))
    assert row["webhook_attempts"] == 3


async def test_a_permanent_refusal_is_not_retried_and_attempts_are_bounded(make_services, client_for, fake_server):
    receiver = fake_server()
    receiver.route("POST", "/gone", Reply(410))
    receiver.route("POST", "/down", Reply(503))
    services = make_services(ENV, queue=InProcessQueue(paused=True))
    client = client_for(services)
    gone = (await client.post("/v1/jobs", json={"prompt": "a", "webhook_url": f"{receiver.url}/gone"})).json()
    down = (await client.post("/v1/batches", json={"items": [{"prompt": "b"}], "webhook_url": f"{receiver.url}/down"})).json()
    await services.queue.run()
    paths = [r.path for r in receiver.received]
    assert paths.count("/gone") == 1 and paths.count("/down") == 4
    assert (await client.get(f"/v1/jobs/{gone['id']}")).json()["webhook"]["status"] == "failed"
    assert (await client.get(f"/v1/batches/{down['id']}")).json()["webhook"] == {"url_set": True, "status": "failed"}
    # a refusal and an unreachable receiver look alike to the caller
    assert (await client.get(f"/v1/jobs/{gone['id']}")).json()["webhook"] == {"url_set": True, "status": "failed"}


async def test_a_redirect_is_never_followed(make_services, client_for, fake_server):
    receiver, inside = fake_server(), fake_server()
    inside.route("POST", "/admin", Reply(200))
    receiver.route("POST", "/hook", Reply(307, b"", {"Location": f"{inside.url}/admin"}))
    services = make_services(ENV, queue=InProcessQueue(paused=True))
    client = client_for(services)
    job = (await client.post("/v1/jobs", json={"prompt": "a", "webhook_url": f"{receiver.url}/hook"})).json()
    await services.queue.run()
    assert [r.path for r in receiver.received] == ["/hook"] and inside.received == []
    assert (await client.get(f"/v1/jobs/{job['id']}")).json()["webhook"]["status"] == "failed"


async def test_no_webhook_without_a_signing_secret(make_services, client_for):
    client = client_for(make_services())
    response = await client.post("/v1/jobs", json={"prompt": "a", "webhook_url": "https://example.invalid/hook"})
    assert response.status_code == 422 and response.json()["error"]["details"]["field"] == "webhook_url"
    bad = await client.post("/v1/batches", json={"items": [{"prompt": "a"}], "webhook_url": "ftp://x"})
    assert bad.status_code == 422
