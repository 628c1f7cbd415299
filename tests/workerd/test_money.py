"""Money that cannot leak, in real workerd: the ledger Durable Object (its schema
upgraded in place), charge-on-uncertain, per-attempt reservations, streamed
partial images in the estimate and the cap, idempotent retries."""

from __future__ import annotations

import json

from tests.fakes.fixtures import load
from tests.fakes.server import Reply, StreamReply
from tests.fakes.openai import openai_success
from tests.fakes.sse import sse_events, sse_frame
from tests.workerd.conftest import PNG



def _today(http) -> dict:
    return http.get("/v1/budget").json()["today"]


def test_an_unreadable_2xx_is_charged_at_its_estimate_and_the_fallback_billed(worker, fakes, http):
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, b"{not json", headers={"Content-Type": "application/json"}))
    fakes.gemini.fallback = lambda _req: Reply(200, load("gemini", "success", IMAGE=PNG))  # any Gemini model
    before = _today(http)["spent_today_micros"]
    body = {"prompt": "billed but unreadable", "provider": "openai", "fallback": True, "quality": "low"}
    response = http.post("/v1/generations", json=body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["provider"] == "gemini"
    failed = [a for a in result["attempts"] if a["provider"] == "openai"]
    assert failed and all(a["error_code"] == "provider_bad_response" and a["cost_micros"] > 0 for a in failed)
    assert result["actual_cost_micros"] == sum(a["cost_micros"] for a in result["attempts"])
    today = _today(http)
    assert today["spent_today_micros"] == before + result["actual_cost_micros"]
    assert today["reserved_now_micros"] == 0 and today["slots_in_use"] == 0


def test_streamed_partial_images_count_against_the_cap(worker, fakes, http):
    completed = load("openai", "completed", IMAGE=PNG)
    completed["usage"] = {"input_tokens": 50, "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                          "output_tokens": 472, "total_tokens": 522}
    frames = [sse_frame("image_generation.partial_image", load("openai", "partial_image", IMAGE=PNG) | {"partial_image_index": i})
              for i in range(2)] + [sse_frame("image_generation.completed", completed)]
    fakes.openai.route("POST", "/v1/images/generations", lambda _req: StreamReply(iter(frames)))
    body = {"prompt": "previews cost", "provider": "openai", "quality": "low"}
    with http.stream("POST", "/v1/generations?stream=true&partial_images=2",
                     json=body | {"max_cost_per_image_micros": 12_000}) as capped:
        text = "".join(capped.iter_text())
    assert "budget_exceeded" in text and not fakes.openai.received
    with http.stream("POST", "/v1/generations?stream=true&partial_images=2", json=body) as streamed:
        events = sse_events(streamed.iter_lines())
    result = events[-1][1]["result"]
    assert [k for k, _ in events].count("partial_image") == 2
    assert 0 < result["actual_cost_micros"] <= result["estimated_cost_micros"]


def test_a_retryable_failure_is_retried_under_its_idempotency_key(worker, fakes, http):
    fakes.openai.route("POST", "/v1/images/generations", Reply(503, load("openai", "server_error")))
    body = {"prompt": "later, please", "provider": "openai", "quality": "low"}
    key = {"Idempotency-Key": "wd-retry-1"}
    first = http.post("/v1/generations", json=body, headers=key)
    assert first.status_code == 503
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    second = http.post("/v1/generations", json=body, headers=key)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["error"]["details"]["request_id"]
    third = http.post("/v1/generations", json=body, headers=key)
    assert third.status_code == 200 and third.json()["id"] == second.json()["id"]


def test_auto_mode_reserves_the_attempt_not_the_chain(worker, fakes, http):
    # any Gemini model: an earlier test may have had this isolate set the default aside for an hour
    fakes.gemini.fallback = lambda _req: Reply(200, load("gemini", "success", IMAGE=PNG))
    body = {"prompt": "cheap first", "quality": "high"}
    estimates = http.post("/v1/estimate", json=body).json()
    assert estimates["auto_pick"] == "gemini", estimates
    costs = {e["provider"]: e["cost_micros"] for e in estimates["estimates"]}
    assert costs["openai"] > costs["gemini"] * 2  # the chain's worst case is OpenAI's
    original = http.get("/v1/budget").json()
    spent = original["today"]["spent_today_micros"]
    # room for the Gemini attempt, not for the chain's worst case
    http.put("/v1/budget", json={"daily_budget_micros": spent + costs["gemini"] + costs["gemini"] // 2})
    try:
        response = http.post("/v1/generations", json=body)
    finally:
        http.put("/v1/budget", json={"daily_budget_micros": original["config"]["daily_budget_micros"]})
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "gemini"
    assert json.loads(json.dumps(_today(http)))["slots_in_use"] == 0


async def test_queued_requests_confirm_their_handed_over_slots(worker, fakes, http):
    import asyncio

    import httpx

    from tests.workerd.conftest import AUTH

    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG), delay_s=0.5))
    original = http.get("/v1/budget").json()["config"]["global_concurrency"]
    http.put("/v1/budget", json={"global_concurrency": 1})
    try:
        async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=90) as client:
            body = {"prompt": "one at a time", "provider": "openai", "quality": "low"}
            answers = await asyncio.gather(*(client.post("/v1/generations", json=body) for _ in range(3)))
    finally:
        http.put("/v1/budget", json={"global_concurrency": original})
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    today = _today(http)
    assert today["slots_in_use"] == 0 and today["reserved_now_micros"] == 0
