"""Imagen 4 on Vertex AI against a fake token endpoint and a fake Vertex on 127.0.0.1:
service-account JWT, token caching, `:predict` with the documented parameters,
filtered images reported and not billed, every error class. Also the Gemini image
models served through the same Vertex credentials."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from local.http import HttpxClient
from local.signer import CryptographySigner
from tests.clocks import clock_at
from pipeline import errors
from pipeline.generation.prepare import prepare
from pipeline.models import GenerationRequest
from pipeline.providers.base import InputImage, ProviderContext
from pipeline.providers.gemini import GeminiVertexProvider, build_vertex
from pipeline.providers.imagen import ImagenProvider, build
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.vertex import service_account, token_endpoint

BASE = "/v1/projects/proj-1/locations/europe-west4/publishers/google/models"
STANDARD = "imagen-4.0-generate-001"
PREDICT = f"{BASE}/{STANDARD}:predict"
PNG = render_png(b"vertex", 64, 64)
BEARER = "Bearer ya29.test-access-token"


@pytest.fixture
def vertex(fake_server):
    server = fake_server()
    creds, public_key = service_account(server)
    exchanges = token_endpoint(server, public_key)
    settings = {"VERTEX_SERVICE_ACCOUNT_JSON": creds, "VERTEX_LOCATION": "europe-west4", "VERTEX_BASE_URL": server.url}
    ctx = ProviderContext(HttpxClient(), clock_at(), settings, signer=CryptographySigner())
    return server, ImagenProvider(ctx), exchanges, ctx


async def test_predict_on_vertex_with_a_service_account_token_cached_until_it_expires(vertex):
    server, imagen, exchanges, _ = vertex
    other = render_png(b"second", 64, 64)
    server.route("POST", PREDICT, Reply(200, load("imagen", "success", IMAGE=PNG, IMAGE2=other)))
    preq = prepare(imagen, GenerationRequest(prompt="a fox", n=2, aspect_ratio="16:9", person_generation="dont_allow", model=STANDARD))
    result = await imagen.run(preq)
    await imagen.run(preq)
    predicts = [r for r in server.received if r.path == PREDICT]
    assert len(exchanges) == 1 and len(predicts) == 2  # one token for both calls
    assert predicts[0].headers["authorization"] == BEARER and "x-goog-api-key" not in predicts[0].headers
    assert predicts[0].json() == {
        "instances": [{"prompt": "a fox"}],
        "parameters": {"sampleCount": 2, "aspectRatio": "16:9", "personGeneration": "dont_allow",
                       "includeRaiReason": True, "sampleImageSize": "1K"},
    }
    assert [i.data for i in result.images] == [PNG, other]
    assert result.size == "1408x768" and result.cost_micros == 80_000 and result.filtered == 0


async def test_an_expired_token_is_renewed(vertex):
    server, imagen, exchanges, _ = vertex
    server.route("POST", PREDICT, Reply(200, load("imagen", "success", IMAGE=PNG, IMAGE2=PNG)))
    await imagen.run(prepare(imagen, GenerationRequest(prompt="a", model=STANDARD)))
    imagen.auth._expires_at = 0  # as if an hour had passed
    await imagen.run(prepare(imagen, GenerationRequest(prompt="b", model=STANDARD)))
    assert len(exchanges) == 2


async def test_a_refused_service_account_is_an_auth_error_that_falls_back(vertex, fake_server):
    server, _, _, ctx = vertex
    other = fake_server()
    creds, _ = service_account(server)  # signed with a key the token endpoint does not know
    bad = ImagenProvider(ProviderContext(ctx.http, ctx.clock, {**ctx.settings, "VERTEX_SERVICE_ACCOUNT_JSON": creds},
                                         signer=CryptographySigner()))
    with pytest.raises(errors.ProviderAuthError) as caught:
        await bad.run(prepare(bad, GenerationRequest(prompt="x")))
    assert caught.value.fallback and "invalid_grant" in caught.value.message
    assert "PRIVATE KEY" not in str(caught.value.to_dict())
    assert not [r for r in server.received if r.path == PREDICT] and not other.received


async def test_filtered_images_are_reported_and_not_billed(vertex):
    server, imagen, _, _ = vertex
    server.route("POST", PREDICT, Reply(200, load("imagen", "partially_filtered", IMAGE=PNG)))
    result = await imagen.run(prepare(imagen, GenerationRequest(prompt="crowd", n=2, model=STANDARD)))
    assert len(result.images) == 1 and result.filtered == 1 and result.cost_micros == 40_000
    assert "Support codes: 56562880" in result.warnings[0]
    server.route("POST", PREDICT, Reply(200, load("imagen", "all_filtered")))
    with pytest.raises(errors.ProviderRefused) as caught:
        await imagen.run(prepare(imagen, GenerationRequest(prompt="no", n=2, model=STANDARD)))
    assert caught.value.details["filtered"] == 2
    server.route("POST", PREDICT, Reply(400, load("imagen", "prompt_prefilter")))
    with pytest.raises(errors.ProviderRefused) as caught:
        await imagen.run(prepare(imagen, GenerationRequest(prompt="no", model=STANDARD)))
    assert caught.value.details["reason"] == "prompt_prefilter"


async def test_models_sizes_and_prices(vertex):
    server, imagen, _, _ = vertex
    assert prepare(imagen, GenerationRequest(prompt="x")).model == "imagen-4.0-fast-generate-001"  # cost default
    fast = prepare(imagen, GenerationRequest(prompt="x", model="imagen-4.0-fast-generate-001", size="2048x2048", n=5))
    assert fast.size == "1024x1024" and fast.warnings
    assert "sampleImageSize" not in imagen.request_body(fast)["parameters"]
    assert imagen.estimate(fast).cost_micros == 100_000
    ultra = prepare(imagen, GenerationRequest(prompt="x", model="imagen-4.0-ultra-generate-001", size="2816x1536"))
    assert imagen.request_body(ultra)["parameters"]["sampleImageSize"] == "2K" and imagen.estimate(ultra).cost_micros == 60_000
    with pytest.raises(errors.UnsupportedByProvider):
        prepare(imagen, GenerationRequest(prompt="x", images=[{"image_id": "i"}]), images=(InputImage(PNG, "image/png"),))
    server.route("POST", f"{BASE}/imagen-4.0-fast-generate-001:predict", Reply(200, load("imagen", "success", IMAGE=PNG, IMAGE2=PNG)))
    with pytest.raises(ValueError, match=r"at most 4 image\(s\) per call"):
        await imagen.run(fast)  # n=5: the generation splits it (tests/generation/test_calls.py)
    result = await imagen.run(replace(fast, n=4))
    assert [r.json()["parameters"]["sampleCount"] for r in server.received if r.path.endswith(":predict")] == [4]
    # two images for four asked: 2 withheld, both returned ones billed
    assert (len(result.images), result.filtered, result.cost_micros) == (2, 2, 2 * 20_000)


@pytest.mark.parametrize("status, fixture, error", [
    (429, "rate_limited", errors.ProviderRateLimited), (503, "unavailable", errors.ProviderUnavailable),
    (403, "permission_denied", errors.ProviderAuthError), (400, "invalid_argument", errors.ProviderInvalidRequest),
    (404, "model_not_found", errors.ModelUnavailable),
])
async def test_errors_are_typed(vertex, status, fixture, error):
    server, imagen, _, _ = vertex
    server.route("POST", PREDICT, Reply(status, load("gemini", fixture)))  # google.rpc error bodies, as on the Gemini API
    with pytest.raises(error):
        await imagen.run(prepare(imagen, GenerationRequest(prompt="x", model="imagen-4.0-generate-001")))


async def test_malformed_and_large_answers(vertex):
    server, imagen, _, _ = vertex
    for body in (b"<html>", b'{"predictions": "nope"}', b'{"predictions": [{"bytesBase64Encoded": "%%%"}]}'):
        server.route("POST", PREDICT, Reply(200, body, headers={"Content-Type": "application/json"}))
        with pytest.raises(errors.ProviderBadResponse):
            await imagen.run(prepare(imagen, GenerationRequest(prompt="x", model="imagen-4.0-generate-001")))
    big = [b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024) for _ in range(2)]
    server.route("POST", PREDICT, Reply(200, load("imagen", "success", IMAGE=big[0], IMAGE2=big[1])))
    result = await imagen.run(prepare(imagen, GenerationRequest(prompt="big", n=2, model="imagen-4.0-generate-001")))
    assert [i.data for i in result.images] == big


async def test_gemini_models_through_the_same_vertex_credentials(vertex):
    server, _, exchanges, ctx = vertex
    gemini = build_vertex(ProviderContext(ctx.http, ctx.clock, {**ctx.settings, "VERTEX_GEMINI": "true"}, signer=ctx.signer))
    assert isinstance(gemini, GeminiVertexProvider)
    path = f"{BASE}/gemini-nano-banana-2.1:generateContent"
    server.route("POST", path, Reply(200, load("gemini", "success", IMAGE=PNG)))
    result = await gemini.run(prepare(gemini, GenerationRequest(prompt="on vertex")))
    sent = [r for r in server.received if r.path == path][0]
    assert sent.headers["authorization"] == BEARER and sent.json()["generationConfig"]["imageConfig"]["aspectRatio"] == "1:1"
    assert result.images[0].data == PNG and len(exchanges) == 1


def test_built_only_with_a_service_account_and_a_signer(vertex):
    _, _, _, ctx = vertex
    assert build(ctx) is not None
    assert build(ProviderContext(ctx.http, ctx.clock, ctx.settings, signer=None)) is None
    assert build(ProviderContext(ctx.http, ctx.clock, {"GEMINI_API_KEY": "k"}, signer=ctx.signer)) is None  # not on the Gemini API
    assert build_vertex(ctx) is None  # Gemini on Vertex is opt-in (VERTEX_GEMINI)
