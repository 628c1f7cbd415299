"""Entity references on the wire: the real Gemini and OpenAI adapters against fakes on
127.0.0.1 answering in each provider's format (tests/fixtures/<provider>/references.json).
Asserts what is sent (parts, order, bytes, count), what is estimated and what is charged."""

from __future__ import annotations

import base64

import pytest

from local.http import HttpxClient
from pipeline import errors
from pipeline.catalog import gemini as gemini_catalog, openai as openai_catalog, pricing
from pipeline import catalog
from pipeline.generation.prepare import check_references, prepare
from pipeline.models import GenerationRequest
from pipeline.providers.base import InputImage, ProviderContext
from pipeline.providers.gemini import GeminiProvider
from pipeline.providers.placeholder import render_png
from tests.clocks import clock_at
from tests.fakes.fixtures import load
from tests.fakes.openai import EDITS, GENERATIONS, form_parts
from tests.fakes.server import Reply

NB21 = "gemini-nano-banana-2.1"
GEN = f"/v1beta/models/{NB21}:generateContent"
OUT = render_png(b"out", 64, 64)
REFS = (InputImage(b"RIFF-first-reference-webp", "image/webp"), InputImage(b"RIFF-second-reference", "image/webp"))


def _req(n_refs: int = 2, **kw) -> GenerationRequest:
    kinds = ["character", "location", "item", "character", "character", "character"]
    refs = [{"entity_type": kinds[i % len(kinds)], "entity_id": f"e{i}"} for i in range(n_refs)]
    return GenerationRequest(prompt="the knight at the gate", references=refs, **kw)


@pytest.fixture
def gemini_fake(fake_server):
    server = fake_server()
    return server, GeminiProvider(ProviderContext(HttpxClient(), clock_at(), {"GEMINI_API_KEY": "AIza-k", "GEMINI_BASE_URL": server.url}))


async def test_gemini_sends_the_prompt_then_each_reference_as_an_inline_part(gemini_fake):
    server, gemini = gemini_fake
    server.route("POST", GEN, Reply(200, load("gemini", "references", IMAGE=OUT)))
    preq = prepare(gemini, _req(), references=REFS)
    result = await gemini.run(preq)
    parts = server.received[0].json()["contents"][0]["parts"]
    assert parts[0] == {"text": "the knight at the gate"}  # the documented order: text first, then the images
    assert [p["inlineData"]["mimeType"] for p in parts[1:]] == ["image/webp", "image/webp"]
    assert [base64.b64decode(p["inlineData"]["data"]) for p in parts[1:]] == [r.data for r in REFS]
    assert len(parts) == 3
    # charged from usageMetadata: the IMAGE prompt tokens at the model's image_in rate
    rates = gemini.rates(NB21)
    assert result.cost_micros == (pricing.tokens_cost(40, rates["text_in"]) + pricing.tokens_cost(2580, rates["image_in"])
                                  + pricing.tokens_cost(1120, rates["image_out"]))
    assert result.usage["image_input_tokens"] == 2580


async def test_gemini_charges_image_input_at_its_own_rate_when_it_differs(gemini_fake):
    server, gemini = gemini_fake
    gemini.ctx.prices.overrides[NB21] = {"rates": {"image_in": 9_000_000}, "set_by": "t", "created_at": "2026-11-30T00:00:00Z",
                                         "reason": "test"}
    server.route("POST", GEN, Reply(200, load("gemini", "references", IMAGE=OUT)))
    result = await gemini.run(prepare(gemini, _req(), references=REFS))
    assert result.cost_micros == (pricing.tokens_cost(40, 1_500_000) + pricing.tokens_cost(2580, 9_000_000)
                                  + pricing.tokens_cost(1120, 30_000_000))


def test_estimates_include_each_reference_at_the_input_image_price(gemini_fake, openai):
    _, gemini = gemini_fake
    plain = gemini.estimate(prepare(gemini, GenerationRequest(prompt="the knight at the gate")))
    with_refs = gemini.estimate(prepare(gemini, _req(), references=REFS))
    per_ref = pricing.tokens_cost(gemini_catalog.REFERENCE_TOKENS * 2, gemini.rates(NB21)["image_in"])
    assert with_refs.cost_micros - plain.cost_micros == per_ref
    assert "2 reference image(s)" in with_refs.basis
    _, oai = openai
    base = oai.estimate(prepare(oai, GenerationRequest(prompt="the knight at the gate")))
    refd = oai.estimate(prepare(oai, _req(), references=REFS))
    assert refd.cost_micros - base.cost_micros == pricing.tokens_cost(
        openai_catalog.EDIT_INPUT_TOKENS_PER_IMAGE * 2, oai.rates(refd.basis.split()[1])["image_in"])


async def test_openai_sends_references_to_the_edits_endpoint_as_image_array(openai):
    server, oai = openai
    server.route("POST", EDITS, Reply(200, load("openai", "references", IMAGE=OUT)))
    preq = prepare(oai, _req(1, moderation="low"), references=REFS[:1])
    result = await oai.run(preq)
    assert [r.path for r in server.received] == [EDITS]  # not /generations
    parts = form_parts(server.received[0])
    files = [(name, ctype, data) for name, filename, ctype, data in parts if filename]
    assert files == [("image[]", "image/webp", REFS[0].data)]  # one reference is still image[]
    fields = {name: data.decode() for name, filename, _, data in parts if not filename}
    assert fields["prompt"] == "the knight at the gate" and "moderation" not in fields
    assert any("moderation=low is not taken" in w for w in result.warnings)
    rates = oai.rates(preq.model)
    assert result.cost_micros == (pricing.tokens_cost(60, rates["text_in"]) + pricing.tokens_cost(2040, rates["image_in"])
                                  + pricing.tokens_cost(1056, rates["image_out"]))


async def test_openai_sends_several_references_in_order(openai):
    server, oai = openai
    server.route("POST", EDITS, Reply(200, load("openai", "references", IMAGE=OUT)))
    await oai.run(prepare(oai, _req(2), references=REFS))
    files = [(n, d) for n, f, _, d in form_parts(server.received[0]) if f]
    assert files == [("image[]", REFS[0].data), ("image[]", REFS[1].data)]
    assert GENERATIONS not in [r.path for r in server.received]


def test_limits_per_model_are_a_422_that_says_the_limit(gemini_fake, openai):
    _, gemini = gemini_fake
    with pytest.raises(errors.UnsupportedByProvider) as too_many:
        prepare(gemini, _req(15))
    assert too_many.value.status == 422 and too_many.value.details["max_references"] == 14
    assert "at most 14 reference images" in too_many.value.message
    # five characters: Nano Banana 2.1 takes 4 people, so the provider's 3 Pro Image (5) is chosen
    five = GenerationRequest(prompt="a group", references=[{"entity_type": "character", "entity_id": f"c{i}"} for i in range(5)])
    assert prepare(gemini, five).model == "gemini-3-pro-image"
    with pytest.raises(errors.UnsupportedByProvider) as people:
        prepare(gemini, five.model_copy(update={"model": NB21}))
    assert people.value.details["max_people"] == 4 and "at most 4 references of people" in people.value.message
    six = GenerationRequest(prompt="a group", references=[{"entity_type": "character", "entity_id": f"c{i}"} for i in range(6)])
    with pytest.raises(errors.UnsupportedByProvider):
        prepare(gemini, six)
    _, oai = openai
    assert prepare(oai, six).model  # OpenAI documents up to 16 input images, people or not


def test_models_without_reference_input_take_none():
    for kind in ("imagen", "workers-ai"):
        for spec in catalog.CATALOGS[kind].models:
            assert spec.max_references == 0
            with pytest.raises(errors.UnsupportedByProvider, match="takes no reference images"):
                check_references(kind, spec.id, spec.max_references, spec.max_people, _req(1))
    for kind in ("openai", "gemini"):  # every model that takes references says where the figure is from
        assert all(m.references_source for m in catalog.CATALOGS[kind].models if m.max_references)
