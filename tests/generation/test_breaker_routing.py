"""The shared breaker seen from the doors: a provider that fails opens for every isolate (a
second set of services over the same ledger stands for a new isolate), auto mode then skips
it without calling it, a request naming it is answered 503 at once with no money moved
(unless it says try_open_provider), and after the cooldown one probe closes it."""

from __future__ import annotations

from pipeline.catalog import default_model
from pipeline.catalog import gemini as gemini_catalog
from pipeline.providers.placeholder import render_png
from tests.clocks import TODAY
from tests.fakes.fixtures import load
from tests.fakes.openai import OPENAI_ENV, openai_success
from tests.fakes.server import Reply

GEMINI = f"/v1beta/models/{default_model(gemini_catalog.CATALOG, TODAY)}:generateContent"
PNG = render_png(b"breaker", 16, 16)
DOWN = Reply(503, {"error": {"message": "overloaded", "type": "server_error"}})


async def test_an_outage_is_learned_once_and_a_probe_closes_it(make_services, client_for, fake_server, clock):
    openai, gemini = fake_server(), fake_server()
    openai.route("POST", "/v1/images/generations", DOWN)
    gemini.route("POST", GEMINI, Reply(200, load("gemini", "success", IMAGE=PNG)))
    env = {**OPENAI_ENV, "GEMINI_API_KEY": "AIza-test", "AUTO_PROVIDER_ORDER": "openai,gemini",
           "MAX_ATTEMPTS_PER_PROVIDER": "3", "OPENAI_BASE_URL": openai.url, "GEMINI_BASE_URL": gemini.url}
    first = make_services(env)
    response = await client_for(first).post("/v1/generations", json={"prompt": "one"})
    assert response.status_code == 201 and response.json()["provider"] == "gemini"
    assert len(openai.received) == 3  # the first request paid the retries: that opened the breaker

    isolate = make_services(env)  # knows nothing of openai's health...
    isolate.ledger = first.ledger  # ...but shares the one ledger
    client = client_for(isolate)
    skipped = await client.post("/v1/generations", json={"prompt": "two"})
    assert skipped.status_code == 201 and skipped.json()["provider"] == "gemini"
    assert len(openai.received) == 3  # skipped without a call (the ledger refused the reserve)

    spent = (await isolate.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"]
    named = await client.post("/v1/generations", json={"prompt": "three", "provider": "openai"})
    assert named.status_code == 503 and named.json()["error"]["code"] == "provider_circuit_open"
    assert 1 <= int(named.headers["retry-after"]) <= 30
    assert len(openai.received) == 3
    budget = (await isolate.ledger.usage("2000-01-01", "2999-12-31")).budget
    assert budget["spent_today_micros"] == spent and budget["reserved_now_micros"] == 0

    anyway = await client.post("/v1/generations", json={"prompt": "four", "provider": "openai",
                                                        "try_open_provider": True})
    assert anyway.status_code == 503 and len(openai.received) == 6  # called, as asked

    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    clock.advance(31)
    clock.monotonic_offset_s += 31
    # (named: this isolate's own passive health still ranks openai last after four failures)
    probe = await client.post("/v1/generations", json={"prompt": "five", "provider": "openai"})
    assert probe.status_code == 201 and probe.json()["provider"] == "openai" and len(openai.received) == 7
    states = {(b.provider, b.state) for b in await isolate.ledger.breakers()}
    assert ("openai", "closed") in states
