"""Batches and async jobs through the real Queue (producer and consumer in workerd),
signed webhooks, and image approval with the public route, in real workerd."""

from __future__ import annotations

import json
import time

from pipeline import webhooks
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.openai import openai_success
from tests.fakes.polling import until
from tests.workerd.conftest import PNG, WEBHOOK_SECRET


def test_a_batch_runs_on_the_queue_with_a_failing_item_and_a_signed_webhook(http, fakes):
    def openai(req):
        if "forbidden" in req.json()["prompt"]:
            return Reply(400, load("openai", "moderation_blocked"))
        return Reply(200, openai_success(PNG))

    fakes.openai.route("POST", "/v1/images/generations", openai)
    fakes.openai.route("POST", "/hook", Reply(204))
    items = [{"prompt": "a fox", "provider": "openai", "quality": "low"},
             {"prompt": "something forbidden", "provider": "openai", "quality": "low"},
             {"prompt": "a lighthouse", "provider": "placeholder"}]
    answer = http.post("/v1/batches", json={"items": items, "webhook_url": f"{fakes.openai.url}/hook"})
    assert answer.status_code == 202, answer.text
    batch_id = answer.json()["id"]
    view = until(http, f"/v1/batches/{batch_id}", lambda v: v["status"] == "completed")
    assert view["counts"] == {"succeeded": 2, "failed": 1}
    ok, refused, placeholder = view["items"]
    assert ok["result"]["provider"] == "openai" and placeholder["result"]["provider"] == "placeholder"
    assert refused["error"]["code"] == "provider_refused"
    assert http.get(ok["result"]["images"][0]["url"]).content == PNG

    until(http, f"/v1/batches/{batch_id}", lambda v: v["webhook"]["status"] not in (None, "pending"))
    hook = [r for r in fakes.openai.received if r.path == "/hook"][-1]
    assert webhooks.verify(WEBHOOK_SECRET, hook.body, hook.headers["webhook-signature"], int(time.time()))
    event = json.loads(hook.body)
    assert event["type"] == "batch.completed" and event["data"]["id"] == batch_id
    assert event["data"]["counts"] == {"succeeded": 2, "failed": 1}


def test_an_async_job_answers_202_then_polls_to_its_result(http):
    answer = http.post("/v1/jobs", json={"prompt": "later, please", "provider": "placeholder"})
    assert answer.status_code == 202, answer.text
    job = until(http, f"/v1/jobs/{answer.json()['id']}", lambda v: v["status"] in ("succeeded", "failed"))
    assert job["status"] == "succeeded" and job["result"]["images"]


def test_approval_decides_what_the_public_route_serves(worker, http):
    import httpx

    result = http.post("/v1/generations", json={"prompt": "two takes", "provider": "placeholder", "n": 2}).json()
    keep, drop = (image["id"] for image in result["images"])
    approved = http.post(f"/v1/images/{keep}/approve", json={"reviewer": "ed"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    rejected = http.post(f"/v1/images/{drop}/reject", json={"reviewer": "ed", "reason": "off model"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    public = httpx.Client(base_url=worker.url)  # the public image route needs no key
    assert public.get(f"/v1/images/{keep}").status_code == 200
    gone = public.get(f"/v1/images/{drop}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    primary = http.put("/v1/entities/character/wd-7/primary/portrait", json={"image_id": keep})
    assert primary.status_code == 200, primary.text
    refused = http.put("/v1/entities/character/wd-7/primary/portrait", json={"image_id": drop})
    assert refused.status_code == 409
