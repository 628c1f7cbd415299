"""One admission path (generation/admission.py): at every door a key whose daily budget fits
one image gets exactly one image, asked one after another and all at once, and every row
records the key and the key's caller. RPC has no key (the service binding is trusted): there
the caller's budget is the one that must hold."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable

import pytest

from local.queue import InProcessQueue
from pipeline.api import rpc
from pipeline.providers.placeholder import render_png
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success

ADMIN = {"Authorization": "Bearer tok-admin"}
PNG = render_png(b"door", 1024, 1024)
LOW = {"prompt": "a fox at dawn", "quality": "low"}


@pytest.fixture
def world(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    openai.route("POST", "/v1/images/edits", Reply(200, openai_success(PNG)))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "API_TOKEN": "tok-admin"},
                             queue=InProcessQueue(paused=True))
    return services, client_for(services), openai


async def key_with(client, budget: int | None, caller: str = "alice") -> dict[str, Any]:
    body: dict[str, Any] = {"name": "door", "caller": caller}
    if budget is not None:
        body["daily_budget_micros"] = budget
    made = await client.post("/v1/keys", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    return made.json()


def auth(key: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


# --- the doors: each asks for one low-quality image, answers (ok, request id or None) ---------

async def native_json(client, headers) -> tuple[bool, str | None]:
    r = await client.post("/v1/generations", json=LOW, headers=headers)
    assert r.status_code in (201, 402), r.text
    return r.status_code == 201, r.json()["id"] if r.status_code == 201 else r.json()["error"]["details"].get("request_id")


async def native_sse(client, headers) -> tuple[bool, str | None]:
    r = await client.post("/v1/generations?stream=true&partial_images=0", json=LOW, headers=headers)
    assert r.status_code == 200, r.text
    frames = [block for block in r.text.split("\n\n") if block.startswith("event:")]
    kind, _, data = frames[-1].partition("\ndata: ")
    last = json.loads(data)
    if kind == "event: completed":
        return True, last["request_id"]
    assert kind == "event: failed" and last["error"]["code"] == "budget_exceeded", frames[-1]
    return False, last["request_id"]


async def openai_json(client, headers) -> tuple[bool, str | None]:
    r = await client.post("/v1/images/generations", json=LOW, headers=headers)
    assert r.status_code in (200, 402), r.text
    return r.status_code == 200, r.headers.get("x-request-id") or r.json()["error"]["details"].get("request_id")


async def openai_multipart(client, headers) -> tuple[bool, str | None]:
    r = await client.post("/v1/images/edits", data={"prompt": "make it night", "quality": "low"},
                          files={"image": ("in.png", render_png(b"in", 64, 64), "image/png")}, headers=headers)
    assert r.status_code in (200, 402), r.text
    return r.status_code == 200, r.headers.get("x-request-id") or r.json()["error"]["details"].get("request_id")


DOORS: dict[str, Callable[..., Awaitable[tuple[bool, str | None]]]] = {
    "native_json": native_json, "native_sse": native_sse, "openai_json": openai_json, "openai_multipart": openai_multipart,
}


async def one_image_budget(services, client, door) -> int:
    """A budget that admits one such image and not two: what one costs and reserves, measured."""
    free = await key_with(client, None, caller="measure")
    ok, request_id = await door(client, auth(free))
    assert ok
    row = await services.db.first("SELECT estimated_cost_micros AS e, actual_cost_micros AS c FROM generation_requests"
                                  " WHERE id = ?", (request_id,))
    estimate, cost = row["e"], row["c"]
    assert 0 < cost <= estimate
    # one estimate fits; after one charge less than an estimate is left; two estimates never fit
    return estimate + cost // 2


@pytest.mark.parametrize("name", list(DOORS))
async def test_a_one_image_key_budget_admits_exactly_one_image_one_after_another(world, name):
    services, client, openai = world
    door = DOORS[name]
    key = await key_with(client, await one_image_budget(services, client, door))
    calls_before = len(openai.received)
    answers = [await door(client, auth(key)) for _ in range(3)]
    assert [ok for ok, _ in answers] == [True, False, False]
    assert len(openai.received) == calls_before + 1  # the refused ones never reached the provider
    rows = await services.db.all("SELECT caller, api_key_id, status FROM generation_requests WHERE api_key_id = ?",
                                 (key["id"],))
    assert len(rows) == 3 and {(r["caller"], r["api_key_id"]) for r in rows} == {("alice", key["id"])}
    assert sorted(r["status"] for r in rows) == ["refused", "refused", "succeeded"]


@pytest.mark.parametrize("name", list(DOORS))
async def test_a_one_image_key_budget_admits_exactly_one_image_at_once(world, name):
    services, client, openai = world
    door = DOORS[name]
    key = await key_with(client, await one_image_budget(services, client, door))
    answers = await asyncio.gather(*(door(client, auth(key)) for _ in range(8)))
    assert sum(ok for ok, _ in answers) == 1
    usage = (await client.get("/v1/usage", headers=ADMIN)).json()["budget"]
    assert usage["reserved_now_micros"] == 0  # nothing left held
    spent = await services.db.first("SELECT SUM(actual_cost_micros) AS s FROM generation_requests WHERE api_key_id = ?",
                                    (key["id"],))
    assert 0 < spent["s"] <= key["daily_budget_micros"]


async def test_batch_items_run_as_the_key_that_queued_them_and_count_against_its_budget(world):
    services, client, openai = world
    key = await key_with(client, await one_image_budget(services, client, native_json))
    made = await client.post("/v1/batches", json={"items": [LOW, LOW, LOW]}, headers=auth(key))
    assert made.status_code == 202, made.text
    await services.queue.run()
    view = (await client.get(f"/v1/batches/{made.json()['id']}", headers=auth(key))).json()
    assert view["counts"] == {"succeeded": 1, "refused": 2}, view["counts"]
    refused = [i for i in view["items"] if i["status"] == "refused"]
    assert {i["error"]["details"]["reason"] for i in refused} == {"key_budget"}
    rows = await services.db.all("SELECT caller, api_key_id FROM generation_requests WHERE api_key_id = ?", (key["id"],))
    assert len(rows) == 3 and {r["caller"] for r in rows} == {"alice"}
    # and the key's own requests see the batch's spend: nothing is left for one more image
    assert (await native_json(client, auth(key)))[0] is False


async def test_jobs_count_against_the_key_and_a_revoked_key_runs_nothing_it_queued(world):
    services, client, openai = world
    key = await key_with(client, await one_image_budget(services, client, native_json))
    jobs = [(await client.post("/v1/jobs", json=LOW, headers=auth(key))).json()["id"] for _ in range(2)]
    await services.queue.run()
    states = [(await client.get(f"/v1/jobs/{j}", headers=auth(key))).json()["status"] for j in jobs]
    assert sorted(states) == ["refused", "succeeded"]

    other = await key_with(client, None)
    queued = (await client.post("/v1/jobs", json=LOW, headers=auth(other))).json()["id"]
    assert (await client.delete(f"/v1/keys/{other['id']}", headers=ADMIN)).status_code == 200
    calls = len(openai.received)
    await services.queue.run()
    job = (await client.get(f"/v1/jobs/{queued}", headers=ADMIN)).json()
    assert job["status"] == "refused" and job["error"]["code"] == "unauthorized" and job["request_id"] is None
    assert len(openai.received) == calls


async def test_rpc_holds_the_callers_budget_one_after_another_and_at_once(world):
    services, client, openai = world
    budget = await one_image_budget(services, client, native_json)
    put = await client.put("/v1/budget", json={"caller_daily_budget_micros": {"carol": budget, "dave": budget}},
                           headers=ADMIN)
    assert put.status_code == 200, put.text
    one_by_one = [await rpc.call(services, "generate", {**LOW, "caller": "carol"}) for _ in range(2)]
    assert [a["ok"] for a in one_by_one] == [True, False]
    assert one_by_one[1]["error"]["code"] == "budget_exceeded"
    at_once = await asyncio.gather(*(rpc.call(services, "generate", {**LOW, "caller": "dave"}) for _ in range(8)))
    assert sum(a["ok"] for a in at_once) == 1
    rows = await services.db.all("SELECT caller, status FROM generation_requests WHERE caller IN ('carol', 'dave')")
    assert len(rows) == 10 and sum(r["status"] == "succeeded" for r in rows) == 2


async def test_a_key_shows_what_it_spent_today(world):
    _, client, _ = world
    key = await key_with(client, 10_000_000)
    other = await key_with(client, None, caller="bob")
    fresh = (await client.get(f"/v1/keys/{key['id']}", headers=ADMIN)).json()["today"]
    assert fresh["spent_micros"] == 0 and fresh["reserved_micros"] == 0 and fresh["remaining_micros"] == 10_000_000
    made = await client.post("/v1/generations", json=LOW, headers=auth(key))
    assert made.status_code == 201, made.text
    cost = made.json()["actual_cost_micros"]
    today = (await client.get(f"/v1/keys/{key['id']}", headers=ADMIN)).json()["today"]
    assert today == {"day": today["day"], "spent_micros": cost, "reserved_micros": 0,
                     "remaining_micros": 10_000_000 - cost}
    listed = {k["id"]: k["today"] for k in (await client.get("/v1/keys", headers=ADMIN)).json()["items"]}
    assert listed[key["id"]]["spent_micros"] == cost
    assert listed[other["id"]] == {"day": today["day"], "spent_micros": 0, "reserved_micros": 0, "remaining_micros": None}
