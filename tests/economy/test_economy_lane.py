"""The economy lane end to end under CPython: batches to the fake batch APIs on the
in-process queue, stored approvable generations, half the price, fallback to the
standard lane, a batch that expires half done, and a crash between submit and result."""

from __future__ import annotations

import pytest

from local.queue import InProcessQueue
from pipeline.providers.placeholder import render_png
from tests.clocks import clock_at
from tests.fakes.batch_apis import GeminiBatchFake, OpenAIBatchFake, batch_price, openai_bill
from tests.fakes.fixtures import load
from tests.fakes.server import Reply

PNG = render_png(b"economy", 1024, 1024)
FAST = {"ECONOMY_POLL_DELAYS_S": "0.01", "BATCH_CONCURRENCY": "4"}


def _services(make_services, openai=None, gemini=None, **env):
    keys = {}
    if openai is not None:
        keys |= {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": openai.url}
    if gemini is not None:
        keys |= {"GEMINI_API_KEY": "gm-test", "GEMINI_BASE_URL": gemini.url}
    return make_services({**keys, **FAST, **env}, queue=InProcessQueue(paused=True, max_retries=10))


async def _run(services, client, body):
    response = await client.post("/v1/batches", json=body)
    assert response.status_code == 202, response.text
    await services.queue.run()
    return (await client.get(f"/v1/batches/{response.json()['id']}")).json()


def _items(n, **extra):
    return [{"prompt": f"chapter 3, scene {i}", "provider": "openai", "quality": "low", **extra} for i in range(n)]


async def test_ten_items_cost_half_through_the_economy_lane(make_services, client_for, fake_server):
    # standard lane: the synchronous Images API, billed at the full price of each answer's usage
    sync = fake_server()
    sync.route("POST", "/v1/images/generations", Reply(200, load("openai", "generation", IMAGE=PNG)))
    standard = _services(make_services, openai=sync)
    view = await _run(standard, client_for(standard), {"items": _items(10)})
    assert view["counts"] == {"succeeded": 10}
    standard_bill = sum(openai_bill(load("openai", "generation", IMAGE=PNG)["usage"]) for _ in range(10))
    standard_spent = sum(i["result"]["actual_cost_micros"] for i in view["items"])

    server = fake_server()
    fake = OpenAIBatchFake(server, PNG)
    economy = _services(make_services, openai=server)
    client = client_for(economy)
    view = await _run(economy, client, {"items": _items(10), "lane": "economy"})
    assert view["counts"] == {"succeeded": 10} and view["lane"] == "economy"
    assert all(i["lane"] == "economy" for i in view["items"])
    economy_spent = sum(i["result"]["actual_cost_micros"] for i in view["items"])

    assert standard_spent == standard_bill  # what we charged is what the provider billed, in each lane
    assert economy_spent == fake.billed_micros
    assert economy_spent == sum(batch_price(standard_bill // 10) for _ in range(10))
    assert economy_spent * 2 - standard_spent in (0, 10)  # half (a micro-dollar of rounding up per item at most)
    assert fake.created == 1  # one provider batch for the ten items
    upload = next(r for r in server.received if r.path == "/v1/files")
    assert b'"url":"/v1/images/generations"' in upload.body and b"purpose" in upload.body

    # ordinary stored generations: images in R2, approvable, the lane in the warnings
    result = view["items"][0]["result"]
    image = result["images"][0]
    assert (await client.get(image["url"])).content == PNG
    assert image["approval_status"] == "pending"
    assert (await client.post(f"/v1/images/{image['id']}/approve", json={"reviewer": "ed"})).status_code == 200
    assert any("economy lane" in w for w in result["warnings"])

    usage = (await client.get("/v1/usage")).json()["lanes"]["totals"]
    assert usage["economy"]["spent_micros"] == economy_spent
    assert usage["economy"]["saved_micros"] == usage["economy"]["standard_price_micros"] - economy_spent > 0
    budget = (await client.get("/v1/budget")).json()["today"]
    assert budget["spent_today_micros"] == economy_spent  # the budget counts economy spend like any other


async def test_an_item_no_batch_api_serves_runs_standard_with_a_warning(make_services, client_for, fake_server):
    server = fake_server()
    OpenAIBatchFake(server, PNG)
    services = _services(make_services, openai=server, PLACEHOLDER_ENABLED="true")
    client = client_for(services)
    items = [{"prompt": "a fox", "provider": "openai", "quality": "low"}, {"prompt": "a map", "provider": "placeholder"}]
    view = await _run(services, client, {"items": items, "lane": "economy"})
    assert view["counts"] == {"succeeded": 2}
    batched, fallback = view["items"]
    assert batched["lane"] == "economy" and fallback["lane"] == "standard"
    assert "no batch API" in fallback["warnings"][0] and fallback["result"]["provider"] == "placeholder"

    refused = await client.post("/v1/batches", json={"items": items, "lane": "economy_only"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "economy_only"
    assert set(refused.json()["error"]["details"]["items"]) == {"1"}


async def test_a_batch_that_expires_half_done_charges_only_what_finished(make_services, client_for, fake_server):
    server = fake_server()
    fake = OpenAIBatchFake(server, PNG, expire_after=2)
    services = _services(make_services, openai=server)
    client = client_for(services)
    view = await _run(services, client, {"items": _items(4), "lane": "economy"})
    assert view["counts"] == {"succeeded": 2, "failed": 2}
    assert [i["error"]["code"] for i in view["items"] if i["error"]] == ["provider_batch_unfinished"] * 2
    spent = sum(i["result"]["actual_cost_micros"] for i in view["items"] if i["status"] == "succeeded")
    assert spent == fake.billed_micros > 0
    budget = (await client.get("/v1/budget")).json()["today"]
    assert budget["spent_today_micros"] == spent and budget["reserved_now_micros"] == 0  # the rest was released


async def test_a_crash_between_submit_and_result_never_submits_twice(make_services, client_for, fake_server):
    server = fake_server()
    fake = OpenAIBatchFake(server, PNG)
    services = _services(make_services, openai=server)
    client = client_for(services)
    response = await client.post("/v1/batches", json={"items": _items(3), "lane": "economy"})
    batch_id = response.json()["id"]

    # the submit message dies right after the provider accepted the batch, before our row saw its id
    from pipeline.queued.economy import lifecycle
    from pipeline.storage import economy_rows

    real_move = economy_rows.move
    crashed = []

    async def crash_once(db, pb_id, *, to, frm, now, **fields):
        if to == "submitted" and not crashed:
            crashed.append(pb_id)
            raise RuntimeError("isolate died")
        return await real_move(db, pb_id, to=to, frm=frm, now=now, **fields)

    lifecycle.economy_rows.move = crash_once  # a test's stand-in for one call
    try:
        await services.queue.run()
    finally:
        lifecycle.economy_rows.move = real_move  # the real one back
    view = (await client.get(f"/v1/batches/{batch_id}")).json()
    assert crashed and fake.created == 1  # the redelivery found the batch by our reference
    assert view["counts"] == {"succeeded": 3}
    assert view["provider_batches"][0]["provider_batch_id"] == next(iter(fake.batches))
    budget = (await client.get("/v1/budget")).json()["today"]
    assert budget["spent_today_micros"] == fake.billed_micros and budget["reserved_now_micros"] == 0


async def test_gemini_batch_mode_inline_requests(make_services, client_for, fake_server):
    server = fake_server()
    fake = GeminiBatchFake(server, PNG)
    services = _services(make_services, gemini=server)
    client = client_for(services)
    view = await _run(services, client, {"items": [{"prompt": "a castle", "provider": "gemini", "n": 2},
                                                   {"prompt": "a bridge", "provider": "gemini"}], "lane": "economy"})
    assert view["counts"] == {"succeeded": 2}
    assert len(view["items"][0]["result"]["images"]) == 2
    create = next(r for r in server.received if r.path.endswith(":batchGenerateContent"))
    sent = create.json()["batch"]
    assert sent["displayName"] == view["provider_batches"][0]["id"]
    assert [r["metadata"]["key"] for r in sent["inputConfig"]["requests"]["requests"]] == ["item-0~0", "item-0~1", "item-1~0"]
    spent = sum(i["result"]["actual_cost_micros"] for i in view["items"])
    assert spent == fake.billed_micros


async def test_estimate_with_the_economy_lane(make_services, client_for, fake_server):
    server = fake_server()
    services = _services(make_services, openai=server)
    client = client_for(services)
    body = {"prompt": "a fox", "provider": "openai", "quality": "low"}
    standard = (await client.post("/v1/estimate", json=body)).json()["estimates"][0]
    economy = (await client.post("/v1/estimate", json=body | {"lane": "economy"})).json()
    entry = economy["estimates"][0]
    assert economy["lane"] == "economy" and entry["lane"] == "economy"
    assert entry["standard_cost_micros"] == standard["cost_micros"]
    assert entry["cost_micros"] == -(-standard["cost_micros"] // 2) and entry["window_s"] == 86400


@pytest.mark.parametrize("lane", ["economy"])
async def test_an_async_job_in_the_economy_lane(make_services, client_for, fake_server, lane):
    server = fake_server()
    OpenAIBatchFake(server, PNG)
    services = _services(make_services, openai=server)
    client = client_for(services)
    answer = await client.post("/v1/jobs", json={"prompt": "later", "provider": "openai", "quality": "low", "lane": lane})
    assert answer.status_code == 202, answer.text
    await services.queue.run()
    job = (await client.get(f"/v1/jobs/{answer.json()['id']}")).json()
    assert job["status"] == "succeeded" and job["lane"] == "economy" and job["result"]["images"]


async def test_storage_failing_after_the_provider_billed_keeps_the_images_and_charges_once(
        make_services, client_for, fake_server):
    """The economy lane's R2 and D1 failures follow every lane's policy (generation/outcome.py):
    each put is retried; a success batch D1 gives up on leaves the images in R2 (nothing deleted)
    and the item open, and a later delivery records it, charged once."""
    server = fake_server()
    fake = OpenAIBatchFake(server, PNG)
    clock = clock_at(instant_sleep=True)  # the redelivery's wait (economy RETRY_S) passes on the clock
    services = make_services({"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": server.url, **FAST}, clock=clock,
                             queue=InProcessQueue(paused=True, max_retries=10, clock=clock))
    client = client_for(services)
    objects, db = services.objects, services.db
    real_put, real_delete, real_batch = objects.put, objects.delete, db.batch
    puts_failed, batches_failed, deleted = [], [], []

    async def flaky_put(key, body, content_type, metadata=None):
        if key.startswith("images/") and len(puts_failed) < 2:
            puts_failed.append(key)
            raise ConnectionError("R2 hiccup")
        await real_put(key, body, content_type, metadata)

    async def record_delete(key):
        deleted.append(key)
        await real_delete(key)

    async def d1_down_for_successes(statements):
        if statements and statements[0][0].startswith("INSERT INTO images") and len(batches_failed) < 4:
            batches_failed.append(statements[0][1][1])  # the request id
            raise ConnectionError("D1 hiccup")
        await real_batch(statements)

    objects.put, objects.delete, db.batch = flaky_put, record_delete, d1_down_for_successes
    try:
        view = await _run(services, client, {"items": _items(3), "lane": "economy"})
    finally:
        objects.put, objects.delete, db.batch = real_put, real_delete, real_batch

    assert len(puts_failed) == 2 and len(batches_failed) == 4  # retried, then D1 gave up once
    assert deleted == []  # what the provider billed was never thrown away
    assert view["counts"] == {"succeeded": 3}, view
    for item in view["items"]:
        image = item["result"]["images"][0]
        assert (await client.get(f"/v1/images/{image['id']}")).status_code == 200
    budget = (await client.get("/v1/budget")).json()["today"]
    assert budget["spent_today_micros"] == fake.billed_micros and budget["reserved_now_micros"] == 0
