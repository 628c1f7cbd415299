"""Entity references through the real app (SQLite with the real migrations, a folder for
R2, Pillow as the Images binding) and the real Gemini adapter against a fake Gemini API on
127.0.0.1: an approved primary image is sent as a 1024-px WebP variant made once, priced,
recorded, and refused clearly when it is missing or over a model's limit."""

from __future__ import annotations

import base64

import pytest

from pipeline import inspect_image
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.openai import form_parts
from tests.fakes.server import Reply

GEN = "/v1beta/models/gemini-nano-banana-2.1:generateContent"
OUT = render_png(b"scene", 64, 64)


@pytest.fixture
async def story(make_services, client_for, fake_server):
    """(client, fake Gemini, services): Gemini configured, the placeholder used to make the
    character's images, and approvals on."""
    server = fake_server()
    server.fallback = lambda req: Reply(200, load("gemini", "references", IMAGE=OUT))
    s = make_services({"GEMINI_API_KEY": "AIza-test", "GEMINI_BASE_URL": server.url})
    return client_for(s), server, s


async def _primary(client, entity="character/ada", role="portrait", size="1536x1024") -> str:
    made = (await client.post("/v1/generations", json={"prompt": "ada, full face", "provider": "placeholder",
                                                       "size": size})).json()
    image_id = made["images"][0]["id"]
    assert (await client.post(f"/v1/images/{image_id}/approve", json={"reviewer": "ed"})).status_code == 200
    assert (await client.put(f"/v1/entities/{entity}/primary/{role}", json={"image_id": image_id})).status_code == 200
    return image_id


def _sent_images(server) -> list[bytes]:
    parts = server.received[-1].json()["contents"][0]["parts"]
    return [base64.b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]


async def test_the_primary_is_sent_small_once_priced_and_recorded(story):
    client, server, s = story
    image_id = await _primary(client)
    body = {"prompt": "ada at the harbour", "references": [{"entity_type": "character", "entity_id": "ada"}],
            "links": [{"entity_type": "character", "entity_id": "ada", "role": "scene"}]}
    first = await client.post("/v1/generations", json=body)
    assert first.status_code == 201, first.text
    result = first.json()
    sent = _sent_images(server)
    assert len(sent) == 1
    kind, width, height = inspect_image.inspect(sent[0])
    assert (kind, width, height) == ("image/webp", 1024, 683)  # the 1536x1024 original, sent at 1024 px
    variant = await s.db.first("SELECT * FROM image_variants WHERE image_id = ?", (image_id,))
    assert variant["content_type"] == "image/webp" and variant["byte_size"] == len(sent[0])
    text = server.received[-1].json()["contents"][0]["parts"][0]["text"]
    assert text.startswith("ada at the harbour") and "1. character ada: keep this character's appearance" in text
    assert result["references"] == [{"entity_type": "character", "entity_id": "ada", "role": "portrait",
                                     "usage": "subject", "image_id": image_id}]
    assert result["kind"] == "generate" and result["links"][0]["role"] == "scene"
    assert "1 reference image(s)" in (await client.post("/v1/estimate", json=body)).json()["estimates"][0]["basis"]
    fetched = (await client.get(f"/v1/generations/{result['id']}")).json()
    assert fetched["references"] == result["references"] and fetched["sent_prompt"] == text
    # the variant is made once: a second generation reuses the stored one
    await client.post("/v1/generations", json=body)
    assert _sent_images(server) == sent
    assert (await s.db.first("SELECT count FROM image_transformations"))["count"] == 1
    uses = (await client.get("/v1/entities/character/ada/references")).json()["uses"]
    assert [u["request_id"] for u in uses][-1] == result["id"] and len(uses) == 2
    assert uses[-1]["images"][0]["id"] == result["images"][0]["id"] and uses[-1]["reference_image_id"] == image_id


async def test_a_missing_primary_is_a_422_naming_it_or_a_warning_when_allowed(story):
    client, server, _ = story
    body = {"prompt": "ada at the harbour", "references": [{"entity_type": "character", "entity_id": "nobody"}]}
    refused = await client.post("/v1/generations", json=body)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert "character 'nobody' has no approved primary image" in error["message"]
    assert error["details"]["field"] == "references[0]" and not server.received
    allowed = (await client.post("/v1/generations", json=body | {"allow_missing_references": True})).json()
    assert allowed["status"] == "succeeded" and any("nobody" in w for w in allowed["warnings"])
    assert allowed["references"][0]["image_id"] is None and _sent_images(server) == []


async def test_the_default_role_and_an_ambiguous_entity(story):
    client, server, _ = story
    castle = await _primary(client, "location/castle", "establishing")
    body = {"prompt": "ada at the castle", "references": [{"entity_type": "location", "entity_id": "castle", "usage": "scene"}]}
    only = (await client.post("/v1/generations", json=body)).json()
    assert only["references"][0]["role"] == "establishing" and only["references"][0]["image_id"] == castle
    await _primary(client, "location/castle", "night")
    ambiguous = await client.post("/v1/generations", json=body)
    assert ambiguous.status_code == 422 and ambiguous.json()["error"]["details"]["roles"] == ["establishing", "night"]
    named = await client.post("/v1/generations", json={**body, "references": [{**body["references"][0], "role": "night"}]})
    assert named.json()["references"][0]["role"] == "night"


async def test_a_rejected_primary_is_no_reference(story):
    client, _, _ = story
    image_id = await _primary(client)
    await client.post(f"/v1/images/{image_id}/reject", json={"reason": "off model"})
    body = {"prompt": "ada", "references": [{"entity_type": "character", "entity_id": "ada"}]}
    assert (await client.post("/v1/generations", json=body)).status_code == 422


async def test_an_explicit_provider_that_cannot_take_them_is_a_422(story, make_services, client_for):
    client, _, _ = story
    await _primary(client)
    too_many = {"prompt": "a crowd", "references": [{"entity_type": "character", "entity_id": f"c{i}"} for i in range(16)],
                "provider": "gemini"}
    refused = await client.post("/v1/generations", json=too_many)
    assert refused.status_code == 422 and "at most 14 reference images" in refused.json()["error"]["message"]
    both = await client.post("/v1/generations", json={"prompt": "x", "images": [{"image_id": "img_x"}],
                                                      "references": [{"entity_type": "item", "entity_id": "sword"}]})
    assert both.status_code == 422 and "not both" in both.text


async def test_auto_mode_plans_only_providers_that_take_that_many_and_says_why(make_services, client_for, fake_server):
    google, openai = fake_server(), fake_server()
    google.fallback = lambda req: Reply(200, load("gemini", "references", IMAGE=OUT))
    openai.fallback = lambda req: Reply(200, load("openai", "references", IMAGE=OUT))
    s = make_services({"GEMINI_API_KEY": "AIza-test", "GEMINI_BASE_URL": google.url, "OPENAI_API_KEY": "sk-test",
                       "OPENAI_BASE_URL": openai.url, "AUTO_PROVIDER_ORDER": "gemini,openai"})
    client = client_for(s)
    image_id = await _primary(client, "item/i0", "portrait", "1024x1024")
    for i in range(1, 15):  # one approved image may be the primary of many entities
        await client.put(f"/v1/entities/item/i{i}/primary/portrait", json={"image_id": image_id})
    body = {"prompt": "a shelf of curios", "references": [{"entity_type": "item", "entity_id": f"i{i}"} for i in range(15)]}
    events = (await client.post("/v1/generations", json=body, headers={"accept": "text/event-stream"})).text
    assert '"plan":["openai"]' in events.replace(" ", "")
    assert "gemini" in events and "takes at most 14 reference images" in events  # why Gemini was skipped
    assert not google.received
    files = [n for n, f, _, _ in form_parts(openai.received[-1]) if f]
    assert files == ["image[]"] * 15
