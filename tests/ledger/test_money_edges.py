"""The budget at its edges, end to end through the API against fake providers that
answer in their wire format: partial images in the estimate and the cap, billed
calls we could not read, deadlines that cut a split request, caps and budgets
per attempt instead of the chain's maximum."""

from __future__ import annotations

import json

from tests.clocks import TODAY
from pipeline.catalog import default_model
from pipeline.catalog import gemini as gemini_catalog
from pipeline.catalog import pricing
from pipeline.generation.prepare import prepare
from pipeline.models import GenerationRequest
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply, StreamReply
from tests.fakes.openai import OPENAI_ENV, openai_success

# the Gemini model auto mode picks today (the catalog decides; tests follow it)
GEMINI = f"/v1beta/models/{default_model(gemini_catalog.CATALOG, TODAY)}:generateContent"
PNG = render_png(b"edges", 16, 16)
BOTH = {**OPENAI_ENV, "GEMINI_API_KEY": "AIza-test", "AUTO_PROVIDER_ORDER": "openai,gemini", "MAX_ATTEMPTS_PER_PROVIDER": "1"}


def _sse(event: str, payload: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


async def _spent(services) -> int:
    return (await services.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"]


async def _open(services) -> tuple[int, int]:
    budget = (await services.ledger.usage("2000-01-01", "2999-12-31")).budget
    return budget["reserved_now_micros"], budget["slots_in_use"]


async def test_streamed_partial_images_are_estimated_and_capped(make_services, client_for, fake_server):
    openai = fake_server()
    partials = 2
    completed = load("openai", "completed", IMAGE=PNG)
    # what the API bills for a streamed image: 100 more output tokens per partial image
    completed["usage"] = {"input_tokens": 50, "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                          "output_tokens": 272 + 100 * partials, "total_tokens": 322 + 100 * partials}
    frames = [_sse("image_generation.partial_image", load("openai", "partial_image", IMAGE=PNG) | {"partial_image_index": i})
              for i in range(partials)] + [_sse("image_generation.completed", completed)]
    openai.route("POST", "/v1/images/generations",
                 lambda req: StreamReply(iter(frames)) if req.json().get("stream") else Reply(200, openai_success(PNG)))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    client = client_for(services)
    body = {"prompt": "stream me", "quality": "low"}

    # a per-image cap the image alone fits, its previews not: refused before any call
    capped = await client.post(f"/v1/generations?stream=false&partial_images={partials}",
                               json=body | {"max_cost_per_image_micros": 12_000})
    assert capped.status_code == 201  # not streamed: no previews asked, none billed
    assert capped.json()["actual_cost_micros"] <= capped.json()["estimated_cost_micros"] <= 12_000
    calls = len(openai.received)
    streamed = await client.post(f"/v1/generations?stream=true&partial_images={partials}",
                                 json=body | {"max_cost_per_image_micros": 12_000})
    assert '"budget_exceeded"' in streamed.text and len(openai.received) == calls

    streamed = await client.post(f"/v1/generations?stream=true&partial_images={partials}", json=body)
    result = json.loads([line for line in streamed.text.splitlines() if line.startswith("data: ")][-1][6:])["result"]
    actual = pricing.tokens_cost(50, 5_000_000) + pricing.tokens_cost(272 + 100 * partials, 30_000_000)  # gpt-image-2.6-flare
    assert result["actual_cost_micros"] == actual
    assert actual <= result["estimated_cost_micros"]  # the estimate is an upper bound, previews included
    overruns = services.ledger.core.sql.exec("SELECT COUNT(*) AS n FROM ledger_events WHERE kind = 'overrun'")
    assert overruns[0]["n"] == 0


async def test_estimates_are_upper_bounds_for_prompts_in_any_script(make_services):
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": "http://127.0.0.1:9"})
    openai = services.registry.get("openai")

    for prompt in ("a fox", "狐狸在雪中奔跑", "🦊🦊🦊🦊", "лиса в снегу"):
        preq = prepare(openai, GenerationRequest(prompt=prompt, quality="low"))
        # byte-level BPE: at most one token per UTF-8 byte, plus what the API adds around it
        worst_text = len(prompt.encode()) + 50
        worst = pricing.tokens_cost(worst_text, 5_000_000) + pricing.tokens_cost(272, 30_000_000)
        assert openai.estimate(preq).cost_micros >= worst, prompt


async def test_an_unreadable_2xx_is_charged_and_the_fallback_billed_too(make_services, client_for, fake_server):
    openai, gemini = fake_server(), fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, b"{not json", headers={"Content-Type": "application/json"}))
    gemini.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG)))
    services = make_services({**BOTH, "OPENAI_BASE_URL": openai.url, "GEMINI_BASE_URL": gemini.url})
    client = client_for(services)
    response = await client.post("/v1/generations", json={"prompt": "fall back", "quality": "low"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["provider"] == "gemini"
    by_provider = {a["provider"]: a for a in result["attempts"]}
    assert by_provider["openai"]["error_code"] == "provider_bad_response"
    openai_charge = by_provider["openai"]["cost_micros"]
    assert openai_charge > 0  # the unreadable answer was billed: charged at its estimate
    assert result["actual_cost_micros"] == openai_charge + by_provider["gemini"]["cost_micros"]
    assert await _spent(services) == result["actual_cost_micros"]
    assert await _open(services) == (0, 0)


async def test_the_deadline_keeps_the_finished_calls_of_a_split_request(make_services, client_for, fake_server):
    gemini = fake_server()
    ok = Reply(200, load("gemini", "success", IMAGE=PNG))
    gemini.sequence("POST", GEMINI, [ok, Reply(200, load("gemini", "success", IMAGE=PNG), delay_s=3)])
    services = make_services({"GEMINI_API_KEY": "AIza-test", "GEMINI_BASE_URL": gemini.url, "PLACEHOLDER_ENABLED": "false",
                              "REQUEST_TIMEOUT_S": "1", "DEFAULT_PROVIDER": "gemini"})
    client = client_for(services)
    response = await client.post("/v1/generations", json={"prompt": "three bananas", "n": 3})
    assert response.status_code == 201, response.text
    result = response.json()
    assert len(result["images"]) == 1 and any("1 of 3 images made" in w for w in result["warnings"])
    gemini_provider = services.registry.get("gemini")
    one_image = gemini_provider.estimate(prepare(gemini_provider, GenerationRequest(prompt="three bananas"))).cost_micros
    billed_first = result["attempts"][-1]["cost_micros"]
    # the finished call at its usage; the two calls the deadline cut (Gemini's calls run
    # together, so both were sent) at their estimate
    assert result["actual_cost_micros"] == billed_first + 2 * one_image
    assert await _spent(services) == result["actual_cost_micros"]
    assert await _open(services) == (0, 0)


async def test_the_configured_cap_picks_a_cheaper_provider_in_auto_mode(make_services, client_for, fake_server):
    openai, gemini = fake_server(), fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    gemini.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG)))
    services = make_services({**BOTH, "OPENAI_BASE_URL": openai.url, "GEMINI_BASE_URL": gemini.url})
    await services.ledger.put_config({"max_cost_per_image_micros": 50_000})
    client = client_for(services)
    response = await client.post("/v1/generations", json={"prompt": "expensive first", "quality": "high"})
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "gemini" and not openai.received


async def test_auto_mode_reserves_the_attempt_not_the_chains_maximum(make_services, client_for, fake_server):
    openai, gemini = fake_server(), fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    gemini.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG)))
    env = {**BOTH, "AUTO_PROVIDER_ORDER": "gemini,openai", "OPENAI_BASE_URL": openai.url, "GEMINI_BASE_URL": gemini.url}
    services = make_services(env)
    # enough for the likely provider (~39k), far from the chain's worst case (openai high, ~167k)
    await services.ledger.put_config({"daily_budget_micros": 60_000})
    client = client_for(services)
    response = await client.post("/v1/generations", json={"prompt": "cheap first", "quality": "high"})
    assert response.status_code == 201, response.text
    assert response.json()["provider"] == "gemini"
    # a fallback that does not fit is refused with the ledger's reason, not taken on credit
    gemini.route("POST", GEMINI, Reply(503, load("gemini", "unavailable")))
    refused = await client.post("/v1/generations", json={"prompt": "now fall back", "quality": "high"})
    assert refused.status_code == 402 and refused.json()["error"]["details"]["reason"] == "daily_budget"
    assert not openai.received and await _open(services) == (0, 0)


async def test_each_reservation_lasts_as_long_as_its_request_may_run(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "REQUEST_TIMEOUT_S": "600"})
    client = client_for(services)
    too_short = await client.put("/v1/budget", json={"reservation_lease_s": 30})
    assert too_short.status_code == 422
    assert (await client.put("/v1/budget", json={"reservation_lease_s": 60})).status_code == 200
    result = (await client.post("/v1/generations", json={"prompt": "long", "quality": "low"})).json()
    row = services.ledger.core._reservation(result["id"])
    assert row["expires_ms"] - row["created_ms"] >= 600_000  # the request's deadline, not the 60 s setting
