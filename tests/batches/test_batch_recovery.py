"""The cron's safety net for batches and jobs (generation/batch_recovery.py): an item whose
queue message was lost is sent again after an hour, given up after a day, and a completed
batch whose webhook never ran gets it."""

from __future__ import annotations

from local.queue import InProcessQueue
from pipeline import maintenance
from tests.fakes.server import Reply

SECRET = "whsec-test-0123456789"


async def test_an_item_whose_message_was_lost_is_sent_again_after_an_hour(make_services, client_for, clock):
    services = make_services(queue=InProcessQueue(paused=True))
    client = client_for(services)
    job = (await client.post("/v1/jobs", json={"prompt": "a lighthouse"})).json()
    services.queue.pending.clear()  # the message is gone (dead-lettered, or never sent)

    clock.advance(600)
    assert (await maintenance.scheduled(services))["batches"]["resent"] == 0  # its message may still be on its way
    clock.advance(3600)
    assert (await maintenance.scheduled(services))["batches"]["resent"] == 1
    assert (await maintenance.scheduled(services))["batches"]["resent"] == 0  # once an hour, not every run
    await services.queue.run()

    view = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert view["status"] == "succeeded" and view["result"]["images"] and view["completed_at"]


async def test_an_item_no_message_finished_in_a_day_is_abandoned(make_services, client_for, clock):
    services = make_services(queue=InProcessQueue(paused=True))
    client = client_for(services)
    batch = (await client.post("/v1/batches", json={"items": [{"prompt": "a"}, {"prompt": "b"}]})).json()
    services.queue.pending.clear()

    clock.advance(25 * 3600)
    counts = (await maintenance.scheduled(services))["batches"]
    assert counts["abandoned"] == 2 and counts["resent"] == 0 and counts["completed"] == 1
    assert not services.queue.pending
    view = (await client.get(f"/v1/batches/{batch['id']}")).json()
    assert view["status"] == "completed"
    assert [(i["status"], i["error"]["code"]) for i in view["items"]] == [("failed", "abandoned")] * 2
    usage = (await services.ledger.usage("2000-01-01", "2999-12-31"))["budget"]
    assert usage["reserved_now_micros"] == 0 and usage["spent_today_micros"] == 0  # nothing ran, nothing charged


async def test_a_webhook_the_completion_never_recorded_is_called_by_the_cron(make_services, client_for, fake_server, clock):
    receiver = fake_server()
    receiver.route("POST", "/hook", Reply(204))
    services = make_services({"WEBHOOK_SECRET": SECRET, "WEBHOOK_ALLOW_LOCAL": "true"}, queue=InProcessQueue(paused=True))
    client = client_for(services)
    job = (await client.post("/v1/jobs", json={"prompt": "a", "webhook_url": f"{receiver.url}/hook"})).json()
    await services.queue.run()
    # the isolate died between completing the job and recording its webhook
    await services.db.run("UPDATE batches SET webhook_status = NULL, webhook_attempts = 0 WHERE id = ?", (job["id"],))

    assert (await maintenance.scheduled(services))["batches"]["webhooks"] == 0  # not before an hour
    clock.advance(3601)
    assert (await maintenance.scheduled(services))["batches"]["webhooks"] == 1
    assert (await maintenance.scheduled(services))["batches"]["webhooks"] == 0
    assert [r.headers["webhook-id"] for r in receiver.received] == [f"{job['id']}.completed"] * 2  # same event: a receiver drops the repeat
    view = (await client.get(f"/v1/jobs/{job['id']}")).json()
    assert view["webhook"] == {"url_set": True, "status": "delivered"}
