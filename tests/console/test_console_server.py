"""The console's server side under CPython: the pages and their caching, the review
scope, one log line per request, and batch progress with the batch's own counts."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

from pipeline import logs
from pipeline.console import routes

ADMIN = {"Authorization": "Bearer tok-admin"}


async def test_the_console_and_docs_are_served_by_the_app_with_no_cdn(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    page = await client.get("/console")  # no key: the page itself is public, its data is not
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    again = await client.get("/console", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    script = routes.ASSETS["console.js"]
    versioned = f"/console/console.js?v={script.etag.strip(chr(34))}"
    assert versioned in page.text
    js = await client.get(versioned)
    assert js.content == script.body and "immutable" in js.headers["cache-control"]
    assert (await client.get("/console/../settings.py")).status_code == 404
    assert (await client.get("/console/secrets.py")).status_code == 404
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "docs.js" in docs.text
    for body in (page.text, docs.text, *(a.body.decode() for a in routes.ASSETS.values())):
        # nothing loaded from another origin (the SVG namespace URI is a name, never fetched)
        assert not re.search(r"""(src|href)=["'](https?:)?//|fetch\(["'`](https?:)?//|@import""", body)
    assert (await client.get("/redoc")).status_code == 404
    home = await client.get("/")
    assert home.status_code == 307 and home.headers["location"] == "/console"
    assert "/console" not in json.dumps((await client.get("/openapi.json")).json()["paths"])


async def test_a_review_key_reads_every_caller_and_decides_but_cannot_spend_or_administer(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    made = await client.post("/v1/generations", json={"prompt": "a fox", "caller": "story-app"}, headers=ADMIN)
    image = made.json()["images"][0]["id"]
    key = (await client.post("/v1/keys", json={"name": "alice (review)", "caller": "alice", "scopes": ["review"]},
                             headers=ADMIN)).json()["key"]
    me = {"Authorization": f"Bearer {key}"}
    listed = (await client.get("/v1/generations", headers=me)).json()["items"]
    assert [g["id"] for g in listed] == [made.json()["id"]]  # another caller's: a reviewer sees them
    assert (await client.get(f"/v1/generations/{made.json()['id']}", headers=me)).status_code == 200
    decided = await client.post(f"/v1/images/{image}/approve", headers=me)
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert decided.json()["reviewer"] == "alice (review)"  # the key on record when none is named
    assert (await client.get("/v1/generations", params={"approval": "approved"}, headers=me)).json()["items"]
    assert (await client.get("/v1/generations", params={"approval": "pending"}, headers=me)).json()["items"] == []
    assert (await client.post("/v1/generations", json={"prompt": "x"}, headers=me)).status_code == 403
    assert (await client.put("/v1/budget", json={"daily_budget_micros": 1}, headers=me)).status_code == 403
    assert (await client.put("/v1/prices/gpt-image-2.6-flare", json={"rates": {"per_image": 1}, "reason": "cheaper"},
                             headers=me)).status_code == 403
    assert (await client.get("/v1/keys", headers=me)).status_code == 403


async def test_a_generate_key_may_not_override_a_price(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    key = (await client.post("/v1/keys", json={"name": "app", "caller": "app"}, headers=ADMIN)).json()["key"]
    prices = (await client.get("/v1/prices", headers=ADMIN)).json()["prices"]
    model = next(p for p in prices if p["price"]["basis"] == "per_image")
    assert model["status"] and "shutdown_date" in model  # the catalog view shows each model's lifecycle
    change = {"rates": {k: v // 2 for k, v in model["price"]["rates"].items()}, "reason": "cheaper now"}
    assert (await client.put(f"/v1/prices/{model['model']}", json=change,
                             headers={"Authorization": f"Bearer {key}"})).status_code == 403
    assert (await client.put(f"/v1/prices/{model['model']}", json=change, headers=ADMIN)).status_code == 200


async def test_access_lines_name_the_generation_and_the_error_code(make_services, client_for, caplog):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    caplog.set_level(logging.INFO, logger=logs.ACCESS)
    made = (await client.post("/v1/generations", json={"prompt": "a fox"}, headers=ADMIN)).json()
    await client.get("/v1/generations/gen_nope", headers=ADMIN)
    await client.get("/v1/usage", headers={"Authorization": "Bearer wrong"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == logs.ACCESS]
    assert [(e["status"], e["generation_id"], e["code"]) for e in lines] == [
        (201, made["id"], None), (404, None, "not_found"), (401, None, "unauthorized")]


def test_one_module_prints_the_lines_as_json_or_for_a_person():
    out = io.StringIO()
    logs.configure("INFO", "text", stream=out)
    try:
        logs.event(logging.INFO, "request", logger=logs.ACCESS, method="GET", route="/v1/usage", status=200,
                   duration_ms=3.2, request_id="req_1", generation_id=None, code=None)
        logs.event(logging.DEBUG, "hidden")
        logs.configure("WARNING", "json", stream=out)
        logs.event(logging.INFO, "below the threshold")
        logs.event(logging.WARNING, "attempt_failed", provider="openai", code="provider_unavailable")
    finally:
        logs.configure("INFO", "json", stream=io.StringIO())
        logging.getLogger(logs.LOGGER).setLevel(logging.NOTSET)
    text, line = out.getvalue().splitlines()
    assert text.endswith("INFO  GET /v1/usage 200 3.2ms request_id=req_1")
    assert json.loads(line) == {"event": "attempt_failed", "provider": "openai", "code": "provider_unavailable"}


async def test_item_events_carry_the_batch_counts_at_that_item(make_services, client_for):
    # The stream polls every 0.5 s; the three items all finish between two polls.
    services = make_services({"PROGRESS_INTERVAL_S": "0.5", "BATCH_CONCURRENCY": "3"})
    client = client_for(services)
    batch = (await client.post("/v1/batches", json={"items": [{"prompt": f"kite {i}"} for i in range(3)]})).json()
    stream, _ = await asyncio.gather(client.get(batch["events_url"]), services.queue.run())
    frames = [(b.split("\n")[0][7:], json.loads(b.split("\n")[1][6:])) for b in stream.text.strip().split("\n\n")
              if b.startswith("event:")]
    items = [data for kind, data in frames if kind == "item"]
    assert frames[0][0] == "batch" and frames[-1][0] == "completed"
    done = [sum(v for k, v in i["counts"].items() if k in ("succeeded", "failed")) for i in items]
    # One step per item, never the poll's final totals on every event (which read 3, 3, 3).
    assert done == [1, 2, 3] and all(i["total"] == 3 for i in items)
    assert all(sum(i["counts"].values()) == 3 for i in items)
