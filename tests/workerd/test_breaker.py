"""The shared breaker in real workerd, across a restart of the Worker: a provider that fails
is opened by the first request; the Worker is started again (new isolates that remember
nothing, the same Durable Object state) and the next auto request skips that provider
without calling it; after the cooldown one probe goes through and closes it. Its own
session, with the breaker's default settings (the shared sessions quiet theirs)."""

from __future__ import annotations

import time

import httpx

from tests.fakes.fixtures import load
from tests.fakes.openai import openai_success
from tests.fakes.server import Reply
from tests.workerd import harness
from tests.workerd.conftest import AUTH, PNG, _first_request, _settings


def test_an_open_breaker_outlives_a_restart_and_one_probe_closes_it(fakes):
    fakes.reset()
    fakes.gemini.fallback = lambda _req: Reply(503, load("gemini", "unavailable"))
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    session = harness.start(_settings(fakes)).wait_ready()
    try:
        _first_request(session)
        first = httpx.post(f"{session.url}/v1/generations", json={"prompt": "one"}, headers=AUTH, timeout=120)
        assert first.status_code == 201 and first.json()["provider"] == "openai", first.text
        calls = len(fakes.gemini.received)
        assert calls == 3  # gemini first in auto order: three failures opened it
        opened = time.monotonic()

        session = harness.restart(session).wait_ready()
        _first_request(session)
        second = httpx.post(f"{session.url}/v1/generations", json={"prompt": "two"}, headers=AUTH, timeout=120)
        assert second.status_code == 201 and second.json()["provider"] == "openai", second.text
        assert len(fakes.gemini.received) == calls  # skipped without a call, by an isolate that never saw it fail
        providers = httpx.get(f"{session.url}/v1/providers", headers=AUTH, timeout=60).json()["providers"]
        breakers = next(p for p in providers if p["name"] == "gemini")["breakers"]
        assert [b["state"] for b in breakers] == ["open"] and breakers[0]["recent_failures"] == 3

        fakes.gemini.fallback = lambda _req: Reply(200, load("gemini", "success", IMAGE=PNG))
        time.sleep(max(0.0, 31 - (time.monotonic() - opened)))  # the cooldown (30 s) on workerd's own clock
        probe = httpx.post(f"{session.url}/v1/generations", json={"prompt": "three", "provider": "gemini"},
                           headers=AUTH, timeout=120)
        assert probe.status_code == 201 and probe.json()["provider"] == "gemini", probe.text
        assert len(fakes.gemini.received) == calls + 1
        providers = httpx.get(f"{session.url}/v1/providers", headers=AUTH, timeout=60).json()["providers"]
        assert [b["state"] for b in next(p for p in providers if p["name"] == "gemini")["breakers"]] == ["closed"]
    finally:
        session.stop()
