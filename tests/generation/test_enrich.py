"""Narrative enrichment: the template of each kind, limits, storage, opt-outs, preview."""

from __future__ import annotations

import json

import pytest

from pipeline import enrich
from pipeline.providers.placeholder import render_png
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success

EXAMPLES = {
    "portrait": (
        {"kind": "portrait", "name": "Mara Vell", "description": "a scarred smuggler, grey eyes", "era": "1920s",
         "mood": "wary", "style": "oil painting", "setting": "a dockside tavern", "notes": "left hand gloved"},
        "Character portrait of Mara Vell. looking over her shoulder. Appearance: a scarred smuggler, grey eyes. "
        "Background: a dockside tavern. Era: 1920s. Mood: wary. Style: oil painting. Notes: left hand gloved. "
        "Head-and-shoulders framing, consistent character design.",
    ),
    "location": (
        {"kind": "location", "name": "the Salt Market", "description": "covered stalls under canvas", "era": "late medieval",
         "mood": "bustling"},
        "Establishing view of the Salt Market. at dawn. The place: covered stalls under canvas. Era: late medieval. "
        "Mood: bustling. Wide shot, no people in the foreground.",
    ),
    "scene": (
        {"kind": "scene", "name": "The Bargain", "description": "two rivals shake hands", "setting": "a rooftop",
         "style": "graphic novel"},
        "Scene: The Bargain. in the rain. What happens: two rivals shake hands. Where: a rooftop. Style: graphic novel. "
        "Cinematic composition, characters in action.",
    ),
    "item": (
        {"kind": "item", "name": "the brass astrolabe", "description": "engraved rings,   a cracked lens", "setting": "a ship's cabin"},
        "Object: the brass astrolabe. worn with use. Details: engraved rings, a cracked lens. Origin: a ship's cabin. "
        "The object alone, centred, plain background, fine detail.",
    ),
}
PROMPTS = {"portrait": "looking over her shoulder", "location": "at dawn", "scene": "in the rain", "item": "worn with use"}


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_template_for_each_kind(kind):
    context, expected = EXAMPLES[kind]
    composed = enrich.compose(PROMPTS[kind], context)
    assert composed.text == expected and composed.warnings == ()
    assert enrich.compose(PROMPTS[kind], context).text == composed.text  # deterministic


def test_over_the_limit_drops_expendable_parts_first_then_cuts_with_warnings():
    context, full = EXAMPLES["portrait"]
    fitted = enrich.compose(PROMPTS["portrait"], context, limit=160, who="imagen")
    assert len(fitted.text) <= 160
    assert fitted.text.startswith("Character portrait of Mara Vell. looking over her shoulder.")
    assert "Notes:" not in fitted.text and "Head-and-shoulders" not in fitted.text
    # dropped in order of expendability, and only as much as needed: mood and style stay
    assert fitted.text.endswith("Era: 1920s. Mood: wary. Style: oil painting.")
    assert fitted.warnings == ("prompt over imagen's limit of 160 characters: left out framing, notes, setting from the context",)
    cut = enrich.compose("word " * 100, context, limit=50, who="imagen")
    assert len(cut.text) <= 50 and not cut.text.endswith(" ")
    assert any("cut from" in w for w in cut.warnings)


async def test_generation_sends_the_enriched_prompt_and_stores_all_three(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"x", 1024, 1024))))
    client = client_for(make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url}))
    context, expected = EXAMPLES["location"]
    response = await client.post("/v1/generations", json={"prompt": "at dawn", "quality": "low", "context": context})
    assert response.status_code == 201, response.text
    assert openai.received[0].json()["prompt"] == expected
    result = (await client.get(f"/v1/generations/{response.json()['id']}")).json()
    assert (result["prompt"], result["sent_prompt"], result["context"]) == ("at dawn", expected, context)


async def test_imagen_sized_limit_trims_with_a_warning_never_silently(make_services, client_for):
    client = client_for(make_services())  # placeholder: the tightest real limit (2048)
    context = {"kind": "scene", "name": "Storm", "description": "waves " * 300, "notes": "n " * 200}
    result = (await client.post("/v1/generations", json={"prompt": "a ship", "context": context})).json()
    assert len(result["sent_prompt"]) <= enrich.PROMPT_LIMITS["placeholder"]
    assert any("limit of 2048" in w for w in result["warnings"]), result["warnings"]


async def test_enrichment_off_per_request_and_by_configuration(make_services, client_for):
    context, _ = EXAMPLES["item"]
    on = client_for(make_services())
    off_request = (await on.post("/v1/generations", json={"prompt": "a key", "context": context, "enrich": False})).json()
    assert off_request["sent_prompt"] == "a key" and off_request["context"] == context
    off = client_for(make_services({"ENRICHMENT_ENABLED": "false"}))
    off_config = (await off.post("/v1/generations", json={"prompt": "a key", "context": context})).json()
    assert off_config["sent_prompt"] == "a key"


async def test_stored_entity_context_is_used_by_reference(make_services, client_for):
    client = client_for(make_services())
    stored = await client.put("/v1/entities/character/c-7/context", json={"name": "Mara Vell", "era": "1920s"})
    assert stored.json()["context"] == {"kind": "portrait", "name": "Mara Vell", "era": "1920s"}
    result = (await client.post("/v1/generations", json={
        "prompt": "smiling", "context_ref": {"entity_type": "character", "entity_id": "c-7"}})).json()
    assert result["sent_prompt"] == ("Character portrait of Mara Vell. smiling. Era: 1920s. "
                                     "Head-and-shoulders framing, consistent character design.")
    missing = await client.post("/v1/generations", json={
        "prompt": "x", "context_ref": {"entity_type": "location", "entity_id": "nowhere"}})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_preview_shows_the_prompt_per_provider_without_generating(make_services, client_for):
    services = make_services()
    client = client_for(services)
    context, expected = EXAMPLES["scene"]
    response = await client.post("/v1/prompts/preview", json={"prompt": "in the rain", "context": context})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["prompt"] == expected and body["enriched"] is True and body["original_prompt"] == "in the rain"
    assert body["providers"]["placeholder"] == {"limit": 2048, "prompt": expected, "warnings": []}
    assert await services.db.all("SELECT id FROM generation_requests") == []
    assert json.loads(json.dumps(body["context"])) == context
