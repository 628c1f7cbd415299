"""The Gemini adapter against what google-genai 3.6.1 sends and parses for the same
intent (issue 17): each test drives the Worker through its HTTP API against a fake
Gemini API answering with a fixture the SDK parses, drives the SDK itself against a
recording fake, and asserts what is sent, what is stored and what is charged."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import FIXTURES, load
from tests.fakes.sdks import genai_client, last
from tests.fakes.server import Reply

genai_types = pytest.importorskip("google.genai.types")

KEY = "AIza-test-secret-key"
NB21 = "gemini-nano-banana-2.1"
PRO = "gemini-3-pro-image"
DRAFT = render_png(b"interim thought draft", 32, 32)
FINAL = render_png(b"the final image", 64, 64)


def _env(server) -> dict[str, str]:
    return {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": server.url, "PLACEHOLDER_ENABLED": "false"}


def _path(model: str) -> str:
    return f"/v1beta/models/{model}:generateContent"


async def _spent(services) -> int:
    return (await services.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"]


def _sdk_request(fake_server, model: str, prompt: str, config: dict, answer: dict) -> tuple[dict, object]:
    """What google-genai sends for this intent, and how it parses `answer`."""
    sdk_fake = fake_server()
    sdk_fake.fallback = lambda _req: Reply(200, answer)
    client = genai_client(sdk_fake)  # held: a client collected mid-call closes its connection
    response = client.models.generate_content(model=model, contents=prompt, config=genai_types.GenerateContentConfig(**config))
    return last(sdk_fake).json(), response


async def test_thought_images_are_never_the_result(make_services, client_for, fake_server):
    """Item 1: [thought text, thought image, final image] stores the final image only."""
    gemini = fake_server()
    answer = load("gemini", "thought_image", IMAGE=DRAFT, IMAGE2=FINAL)
    gemini.route("POST", _path(PRO), Reply(200, answer))
    services = make_services(_env(gemini))
    response = await client_for(services).post("/v1/generations", json={
        "prompt": "a lighthouse at dusk", "provider": "gemini", "model": PRO, "aspect_ratio": "16:9"})
    assert response.status_code == 201, response.text
    result = response.json()

    config = {"response_modalities": ["IMAGE"], "image_config": genai_types.ImageConfig(aspect_ratio="16:9", image_size="1K")}
    sdk_sent, parsed = _sdk_request(fake_server, PRO, "a lighthouse at dusk", config, answer)
    assert gemini.received[0].json() == sdk_sent  # sent: exactly the SDK's request
    finals = [p.inline_data.data for p in parsed.candidates[0].content.parts if p.inline_data and not p.thought]
    assert finals == [FINAL]  # the SDK's reading: one final image, the other is a thought

    assert len(result["images"]) == 1  # stored: the final image, not the draft
    assert result["images"][0]["sha256"] == hashlib.sha256(FINAL).hexdigest()
    assert (await client_for(services).get(result["images"][0]["url"])).content == FINAL
    assert not any("images for 1 asked" in w for w in result["warnings"])
    # charged: 11 prompt tokens at $2/1M (22) + 1120 image tokens at $120/1M (134,400)
    # + 1380 thought tokens (the drafts) at the $12/1M text rate (16,560)
    assert result["actual_cost_micros"] == 22 + 134_400 + 16_560
    assert await _spent(services) == result["actual_cost_micros"]


async def test_an_answer_without_an_image_is_charged_by_the_usage_it_reports(make_services, client_for, fake_server):
    """Item 2: finishReason IMAGE_OTHER with usageMetadata (11 prompt tokens): charged
    those 11 tokens (17 micro-dollars), not the call's estimate."""
    gemini = fake_server()
    answer = load("gemini", "image_other")
    gemini.route("POST", _path(NB21), Reply(200, answer))
    services = make_services(_env(gemini))
    client = client_for(services)
    response = await client.post("/v1/generations", json={"prompt": "a fox", "provider": "gemini"})
    assert response.status_code == 502, response.text
    error = response.json()["error"]

    _, parsed = _sdk_request(fake_server, NB21, "a fox", {"response_modalities": ["IMAGE"]}, answer)
    assert parsed.candidates[0].finish_reason == genai_types.FinishReason.IMAGE_OTHER
    assert parsed.usage_metadata.prompt_token_count == 11 and not parsed.candidates[0].content.parts

    assert error["code"] == "provider_bad_response" and "IMAGE_OTHER" in error["message"]
    assert error["details"]["charged_micros"] == 17  # 11 tokens at $1.50/1M, rounded up
    stored = (await client.get(f"/v1/generations/{error['details']['request_id']}")).json()
    assert stored["status"] == "failed" and stored["images"] == []
    assert [(a["error_code"], a["cost_micros"]) for a in stored["attempts"]] == [("provider_bad_response", 17)]
    assert stored["actual_cost_micros"] == 17 and stored["estimated_cost_micros"] == 48_758  # not the estimate
    assert await _spent(services) == 17


async def test_a_refusal_with_usage_stays_uncharged(make_services, client_for, fake_server):
    """The boundary of item 2: a refusal (finishReason NO_IMAGE) is never charged (docs/budget.md)."""
    gemini = fake_server()
    gemini.route("POST", _path(NB21), Reply(200, load("gemini", "no_image")))
    services = make_services(_env(gemini))
    response = await client_for(services).post("/v1/generations", json={"prompt": "a fox", "provider": "gemini"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "provider_refused"
    assert "charged_micros" not in response.json()["error"].get("details", {})
    assert await _spent(services) == 0


async def test_person_generation_is_not_sent_to_the_gemini_api(make_services, client_for, fake_server):
    """Item 3: google-genai refuses to send personGeneration on the Gemini API; the Worker
    leaves it out too and says so in a warning (Vertex: see test_sdk_parity_vertex.py)."""
    gemini = fake_server()
    gemini.route("POST", _path(NB21), Reply(200, load("gemini", "success", IMAGE=FINAL)))
    services = make_services(_env(gemini))
    response = await client_for(services).post("/v1/generations", json={
        "prompt": "a market square", "provider": "gemini", "person_generation": "dont_allow"})
    assert response.status_code == 201, response.text
    result = response.json()

    with pytest.raises(ValueError, match="person_generation parameter is only supported in Gemini Enterprise"):
        _sdk_request(fake_server, NB21, "a market square",
                     {"image_config": genai_types.ImageConfig(person_generation="ALLOW_NONE")}, {})
    config = {"response_modalities": ["IMAGE"], "image_config": genai_types.ImageConfig(aspect_ratio="1:1", image_size="1K")}
    sdk_sent, _ = _sdk_request(fake_server, NB21, "a market square", config, load("gemini", "success", IMAGE=FINAL))
    sent = gemini.received[0].json()
    assert sent == sdk_sent and "personGeneration" not in sent["generationConfig"]["imageConfig"]

    assert any(w.startswith("person_generation=dont_allow is not supported by the Gemini API") for w in result["warnings"])
    assert result["images"][0]["sha256"] == hashlib.sha256(FINAL).hexdigest()
    assert result["actual_cost_micros"] == 17 + 33_600  # its usage: 11 prompt + 1120 image tokens


async def test_url_safe_base64_image_data_is_decoded(make_services, client_for, fake_server):
    """Item 6: inlineData.data in the URL-safe alphabet without padding, which the SDK
    (pydantic bytes) decodes, is stored as those bytes and billed by its usage."""
    text = (FIXTURES / "gemini" / "url_safe_base64.json").read_text()
    answer = json.loads(text)
    data = answer["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    assert ("-" in data or "_" in data) and not data.endswith("=")  # the fixture is what it claims
    gemini = fake_server()
    gemini.route("POST", _path(NB21), Reply(200, answer))
    services = make_services(_env(gemini))
    response = await client_for(services).post("/v1/generations", json={"prompt": "a fox", "provider": "gemini"})
    assert response.status_code == 201, response.text
    result = response.json()

    _, parsed = _sdk_request(fake_server, NB21, "a fox", {"response_modalities": ["IMAGE"]}, answer)
    png = parsed.candidates[0].content.parts[0].inline_data.data
    assert png.startswith(b"\x89PNG") and png == base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))

    assert result["images"][0]["sha256"] == hashlib.sha256(png).hexdigest()
    assert (await client_for(services).get(result["images"][0]["url"])).content == png
    assert result["actual_cost_micros"] == 17 + 33_600 and await _spent(services) == 17 + 33_600
