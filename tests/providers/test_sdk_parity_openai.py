"""The OpenAI adapter and the OpenAI-compatible door against what the openai 3.57 SDK
sends and reads for the same intent (issue 17): the official SDK drives the Worker's
door in process, the same SDK call goes straight to a recording fake OpenAI, and the
upstream requests are compared; then what is stored and what is charged."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.api.app import create_app
from pipeline.providers.placeholder import render_png
from pipeline.generation.prepare import safety_identifier
from tests.fakes.fixtures import load
from tests.fakes.sdks import last, openai_asgi_client, openai_client
from tests.fakes.server import Reply

openai = pytest.importorskip("openai")

ADMIN = "tok-admin"
MODEL = "gpt-image-2.6-flare"
GENERATIONS = "/v1/images/generations"
PNG = render_png(b"openai parity", 48, 32)


async def _key(client, caller: str) -> dict:
    response = await client.post("/v1/keys", json={"name": "sdk", "caller": caller}, headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 201, response.text
    return response.json()


async def _spent(services) -> int:
    return (await services.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"]


def _worker(make_services, upstream) -> tuple:
    services = make_services({"API_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-upstream-secret", "OPENAI_BASE_URL": upstream.url,
                              "PLACEHOLDER_ENABLED": "false"})
    return services, create_app(services)


def _sdk_sent(fake_server, answer: Reply, **call) -> dict:
    """What openai's `images.generate(**call)` sends, straight to a fake OpenAI."""
    fake = fake_server()
    fake.route("POST", GENERATIONS, answer)
    openai_client(fake.url).images.generate(**call)
    return last(fake).json()


async def test_size_auto_is_sent_as_auto_and_the_reported_size_is_stored(make_services, client_for, fake_server):
    """Item 4: `size="auto"` reaches OpenAI as "auto"; priced at the largest standard size
    it may pick; the size it reports (1536x1024) is what is stored; billed by usage."""
    upstream = fake_server()
    answer = Reply(200, load("openai", "generation_auto_size", IMAGE=PNG))
    upstream.route("POST", GENERATIONS, answer)
    services, app = _worker(make_services, upstream)
    key = await _key(client_for(services), "app-7")
    sdk = openai_asgi_client(app, key["key"])
    response = await sdk.images.generate(model=MODEL, prompt="a harbour at dawn", size="auto", quality="low")

    call = {"model": MODEL, "prompt": "a harbour at dawn", "size": "auto", "quality": "low", "n": 1,
            "safety_identifier": safety_identifier("app-7")}
    sent = last(upstream).json()
    assert sent == _sdk_sent(fake_server, answer, **call) and sent["size"] == "auto"

    assert response.size == "1536x1024"
    stored = (await client_for(services).get(f"/v1/generations/{response.image_worker['request_id']}",
                                             headers={"Authorization": f"Bearer {ADMIN}"})).json()
    assert stored["size"] == "1536x1024"
    assert (stored["images"][0]["width"], stored["images"][0]["height"]) == (1536, 1024)
    assert stored["images"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    # priced before the call at the costliest size auto may pick: 1536x1024 low = 408 image tokens
    assert stored["estimated_cost_micros"] >= 408 * 30
    # billed by usage: 50 text tokens at $5/1M (250) + 408 image tokens at $30/1M (12,240)
    assert stored["actual_cost_micros"] == 250 + 12_240 and await _spent(services) == 12_490


async def test_retry_after_keeps_its_precision_through_the_door(make_services, client_for, fake_server):
    """Item 5: upstream `retry-after-ms: 2500` comes back as `retry-after-ms: 2500` and
    `Retry-After: 3` (rounded up): the SDK waits 2.5 s, as it would against OpenAI."""
    upstream = fake_server()
    limited = Reply(429, load("openai", "rate_limited"), headers={"retry-after-ms": "2500", "retry-after": "3"})
    upstream.route("POST", GENERATIONS, limited)
    services, app = _worker(make_services, upstream)
    key = await _key(client_for(services), "app-7")
    sdk = openai_asgi_client(app, key["key"])
    with pytest.raises(openai.RateLimitError) as err:
        await sdk.images.generate(model=MODEL, prompt="a fox", quality="low")

    headers = err.value.response.headers
    assert (headers["retry-after-ms"], headers["retry-after"]) == ("2500", "3")
    from openai._models import FinalRequestOptions

    options = FinalRequestOptions.construct(method="post", url=GENERATIONS)
    direct = fake_server()
    direct.route("POST", GENERATIONS, limited)
    with pytest.raises(openai.RateLimitError) as upstream_err:
        openai_client(direct.url).images.generate(model=MODEL, prompt="a fox", quality="low")
    waits = [sdk._calculate_retry_timeout(1, options, h) for h in (headers, upstream_err.value.response.headers)]
    assert waits == [2.5, 2.5]  # the SDK waits the same against the Worker as against OpenAI

    body = err.value.body
    assert body["code"] == "provider_rate_limited" and body["retry_after_s"] == 2.5
    request_id = body["details"]["request_id"]
    stored = (await client_for(services).get(f"/v1/generations/{request_id}", headers={"Authorization": f"Bearer {ADMIN}"})).json()
    assert stored["status"] == "failed" and stored["error"]["code"] == "provider_rate_limited"
    assert [a["cost_micros"] for a in stored["attempts"]] == [0] and await _spent(services) == 0  # a 429 is not billed


async def test_the_door_forwards_a_hashed_safety_identifier_for_the_keys_caller(make_services, client_for, fake_server):
    """Item 8: as on /v1/generations, the key's caller reaches OpenAI as a hashed
    `safety_identifier` (never the caller's name), and the request is the key's."""
    upstream = fake_server()
    answer = Reply(200, load("openai", "generation", IMAGE=PNG))
    upstream.route("POST", GENERATIONS, answer)
    services, app = _worker(make_services, upstream)
    key = await _key(client_for(services), "app-7")
    sdk = openai_asgi_client(app, key["key"])
    response = await sdk.images.generate(model=MODEL, prompt="a fox in the snow", quality="low")

    hashed = hashlib.sha256(b"app-7").hexdigest()[:32]
    call = {"model": MODEL, "prompt": "a fox in the snow", "quality": "low", "n": 1, "size": "1024x1024",
            "safety_identifier": hashed}
    sent = last(upstream).json()
    assert sent == _sdk_sent(fake_server, answer, **call)
    assert sent["safety_identifier"] == hashed and "app-7" not in last(upstream).body.decode() and "user" not in sent

    stored = (await client_for(services).get(f"/v1/generations/{response.image_worker['request_id']}",
                                             headers={"Authorization": f"Bearer {ADMIN}"})).json()
    assert stored["caller"] == "app-7" and stored["images"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    row = await services.db.first("SELECT api_key_id FROM generation_requests WHERE id = ?", (stored["id"],))
    assert row["api_key_id"] == key["id"]
    # billed by usage: 50 text tokens at $5/1M (250) + 272 image tokens at $30/1M (8,160)
    assert stored["actual_cost_micros"] == 8_410 and await _spent(services) == 8_410
