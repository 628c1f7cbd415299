"""One admission path in real workerd: a key whose daily budget fits one image admits exactly
one of 8 simultaneous requests, every time, at the native and the OpenAI-compatible door
(each request its own await chain of D1 and Durable Object round trips), and a batch queued
by that key runs as it."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.fakes.server import Reply
from tests.test_generations_api import openai_success
from tests.workerd.test_http import PNG

LOW = {"prompt": "a fox at dawn", "provider": "openai", "quality": "low"}
OPENAI_LOW = {"prompt": "a fox at dawn", "model": "openai", "quality": "low"}  # `model` may name a provider
TRIALS = 3
AT_ONCE = 8


def _budget_for_one(http) -> int:
    made = http.post("/v1/generations", json=LOW)
    assert made.status_code == 201, made.text
    result = made.json()
    return result["estimated_cost_micros"] + result["actual_cost_micros"] // 2


def _key(http, budget: int) -> dict:
    made = http.post("/v1/keys", json={"name": "door", "caller": "alice", "daily_budget_micros": budget})
    assert made.status_code == 201, made.text
    return made.json()


async def _at_once(url: str, key: str, path: str, body: dict) -> list[int]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=90) as client:
        answers = await asyncio.gather(*(client.post(path, json=body) for _ in range(AT_ONCE)))
    return [a.status_code for a in answers]


async def test_a_one_image_key_budget_admits_exactly_one_of_eight_at_every_door(worker, fakes, http):
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG), delay_s=0.05))
    budget = _budget_for_one(http)
    for path, body, ok in (("/v1/generations", LOW, 201), ("/v1/images/generations", OPENAI_LOW, 200)):
        for _ in range(TRIALS):
            key = _key(http, budget)
            statuses = await _at_once(worker.url, key["key"], path, body)
            assert sorted(statuses) == [ok] + [402] * (AT_ONCE - 1), (path, statuses)
    today = http.get("/v1/budget").json()["today"]
    assert today["reserved_now_micros"] == 0 and today["slots_in_use"] == 0
    rows = http.get("/v1/generations", params={"caller": "alice", "status": "succeeded", "limit": 100}).json()["items"]
    assert len(rows) == 2 * TRIALS and {r["caller"] for r in rows} == {"alice"}


def test_a_batch_runs_as_the_key_that_queued_it(worker, fakes, http):
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    key = _key(http, _budget_for_one(http))
    auth = {"Authorization": f"Bearer {key['key']}"}
    made = http.post("/v1/batches", json={"items": [LOW, LOW, LOW]}, headers=auth)
    assert made.status_code == 202, made.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = http.get(f"/v1/batches/{made.json()['id']}").json()
        if view["status"] == "completed":
            break
        time.sleep(0.5)
    assert view["counts"] == {"succeeded": 1, "refused": 2}, view
    assert {i["error"]["details"]["reason"] for i in view["items"] if i["error"]} == {"key_budget"}
    assert http.post("/v1/generations", json=LOW, headers=auth).status_code == 402  # the batch spent it
