"""The budget ledger Durable Object across many simultaneous requests, budget and
usage routes, and the cron handler, in real workerd."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.fakes.server import Reply
from tests.fakes.openai import openai_success
from tests.workerd.conftest import AUTH, PNG


def test_budget_and_usage_routes(http):
    current = http.get("/v1/budget").json()
    assert set(current["config"]) >= {"daily_budget_micros", "global_concurrency", "reservation_lease_s"}
    changed = http.put("/v1/budget", json={"caller_daily_budget_micros": {"wd-caller": 123_000}})
    assert changed.status_code == 200 and changed.json()["config"]["caller_daily_budget_micros"]["wd-caller"] == 123_000
    assert http.get("/v1/budget").json()["config"]["caller_daily_budget_micros"]["wd-caller"] == 123_000
    invalid = http.put("/v1/budget", json={"daily_budget_micros": -1})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_request"
    usage = http.get("/v1/usage").json()
    assert usage["days"] and "recorded" in usage and "budget" in usage
    assert http.get("/v1/usage", params={"from": "2026-13-40"}).status_code == 422


async def test_exactly_the_affordable_number_is_admitted_across_requests(worker, fakes, http):
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG), delay_s=1.5))
    body = {"prompt": "a crowd", "provider": "openai", "quality": "low", "size": "1024x1024"}
    estimate = next(e for e in http.post("/v1/estimate", json=body).json()["estimates"] if e["provider"] == "openai")
    cost = estimate["cost_micros"]
    original = http.get("/v1/budget").json()
    spent = original["today"]["spent_today_micros"]
    affordable = 5
    http.put("/v1/budget", json={"daily_budget_micros": spent + affordable * cost + cost // 2, "global_concurrency": 32})
    try:
        async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=90) as client:
            answers = await asyncio.gather(*(client.post("/v1/generations", json=body) for _ in range(24)))
    finally:
        http.put("/v1/budget", json={"daily_budget_micros": original["config"]["daily_budget_micros"],
                                     "global_concurrency": original["config"]["global_concurrency"]})
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == affordable and statuses.count(402) == 24 - affordable, statuses
    refused = next(a for a in answers if a.status_code == 402).json()["error"]
    assert refused["code"] == "budget_exceeded" and refused["details"]["request_id"].startswith("gen_")
    billed = sum(a.json()["actual_cost_micros"] for a in answers if a.status_code == 201)
    today = http.get("/v1/budget").json()["today"]
    assert today["spent_today_micros"] == spent + billed and today["reserved_now_micros"] == 0
    assert today["slots_in_use"] == 0
    assert len(fakes.openai.received) == affordable  # refused requests never reached the provider


def test_cron_runs_and_rolls_usage_up(worker, http):
    http.post("/v1/generations", json={"prompt": "for the roll-up", "provider": "placeholder"})
    answer = httpx.get(f"{worker.url}/cdn-cgi/local/scheduled", params={"cron": "*/5 * * * *"}, timeout=60)
    assert answer.status_code == 200 and answer.text == "ok"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    recorded = http.get("/v1/usage", params={"from": today, "to": today}).json()["recorded"]
    placeholder = [r for r in recorded if r["day"] == today and r["provider"] == "placeholder"]
    assert placeholder and placeholder[0]["attempts"] >= 1, recorded
