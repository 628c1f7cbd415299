"""Gemini 2.5 Flash Image and Imagen 4 against a fake Gemini API on 127.0.0.1
answering with the documented wire format (tests/fixtures/gemini, imagen)."""

from __future__ import annotations

import base64
import os

import pytest

from local.http import HttpxClient
from pipeline import errors
from pipeline.clock import SystemClock
from pipeline.models import GenerationRequest
from pipeline.providers.base import InputImage, ProviderContext
from pipeline.providers.gemini import GeminiProvider
from pipeline.providers.imagen import ImagenProvider
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply

KEY = "AIza-test-secret-key"
GEN = "/v1beta/models/gemini-2.5-flash-image:generateContent"
PREDICT = "/v1beta/models/imagen-4.0-generate-001:predict"
PNG = render_png(b"google", 64, 64)


@pytest.fixture
def google(fake_server):
    server = fake_server()
    ctx = ProviderContext(HttpxClient(), SystemClock(), {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": server.url})
    return server, GeminiProvider(ctx), ImagenProvider(ctx)


async def test_gemini_generates_with_the_documented_request(google):
    server, gemini, _ = google
    server.route("POST", GEN, Reply(200, load("gemini", "success", IMAGE=PNG)))
    preq = gemini.prepare(GenerationRequest(prompt="a banana in a tuxedo", size="1920x1080"))
    result = await gemini.run(preq)

    sent = server.received[0]
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "a banana in a tuxedo"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "16:9"}},
    }
    assert result.size == "1344x768" and "nearest 1344x768" in result.warnings[0]
    assert result.images[0].data == PNG and result.images[0].content_type == "image/png"
    # 11 prompt tokens at $0.30/1M + 1290 image tokens at $30/1M
    assert result.cost_micros == 4 + 38_700
    assert gemini.estimate(preq).cost_micros == 39_000 + 36  # + 120 prompt tokens (20 bytes + 100 overhead) at $0.30/1M


async def test_gemini_n_images_take_n_calls_and_edits_send_inline_data(google):
    server, gemini, _ = google
    server.route("POST", GEN, Reply(200, load("gemini", "success", IMAGE=PNG)))
    source = render_png(b"source", 32, 32)
    preq = gemini.prepare(GenerationRequest(prompt="make it night", n=2, images=[{"image_id": "img_x"}]),
                          images=(InputImage(source, "image/png"),))
    result = await gemini.run(preq)
    assert len(result.images) == 2 and len(server.received) == 2
    parts = server.received[0].json()["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(source).decode()}}
    assert parts[1] == {"text": "make it night"}
    assert result.cost_micros == 2 * (4 + 38_700)


@pytest.mark.parametrize("fixture, reason", [("image_safety", "IMAGE_SAFETY"), ("prompt_blocked", "PROHIBITED_CONTENT"),
                                             ("text_only", "STOP")])
async def test_gemini_safety_outcomes_are_refusals(google, fixture, reason):
    server, gemini, _ = google
    server.route("POST", GEN, Reply(200, load("gemini", fixture)))
    with pytest.raises(errors.ProviderRefused) as caught:
        await gemini.run(gemini.prepare(GenerationRequest(prompt="no")))
    assert caught.value.details["reason"] == reason
    assert caught.value.retryable is False and caught.value.fallback is False
    if fixture == "text_only":
        assert "can't create images" in caught.value.message


@pytest.mark.parametrize("status, fixture, error, retry_after", [
    (429, "rate_limited", errors.ProviderRateLimited, 7.0),
    (429, "daily_quota", errors.ProviderQuotaExhausted, None),
    (400, "invalid_argument", errors.ProviderInvalidRequest, None),
    (403, "permission_denied", errors.ProviderAuthError, None),
    (503, "unavailable", errors.ProviderUnavailable, None),
])
async def test_gemini_errors_are_typed(google, status, fixture, error, retry_after):
    server, gemini, _ = google
    server.route("POST", GEN, Reply(status, load("gemini", fixture)))
    with pytest.raises(error) as caught:
        await gemini.run(gemini.prepare(GenerationRequest(prompt="x")))
    assert type(caught.value) is error
    assert caught.value.retry_after_s == retry_after
    assert KEY not in str(caught.value.to_dict())
    if error is errors.ProviderQuotaExhausted:
        assert caught.value.retryable is False and caught.value.fallback is True


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b'{"candidates": []}',
                                  b'{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%%"}}]}, "finishReason": "STOP"}]}'])
async def test_gemini_malformed_answers(google, body):
    server, gemini, _ = google
    server.route("POST", GEN, Reply(200, body, headers={"Content-Type": "application/json"}))
    with pytest.raises(errors.ProviderBadResponse):
        await gemini.run(gemini.prepare(GenerationRequest(prompt="x")))


async def test_gemini_large_image(google):
    server, gemini, _ = google
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024)
    server.route("POST", GEN, Reply(200, load("gemini", "success", IMAGE=big)))
    result = await gemini.run(gemini.prepare(GenerationRequest(prompt="big")))
    assert result.images[0].data == big


async def test_gemini_cannot_mask_or_make_transparent(google):
    _, gemini, _ = google
    with pytest.raises(errors.UnsupportedByProvider):
        gemini.prepare(GenerationRequest(prompt="x", images=[{"image_id": "i"}], mask={"image_id": "m"}),
                       images=(InputImage(PNG, "image/png"),), mask=InputImage(PNG, "image/png"))
    preq = gemini.prepare(GenerationRequest(prompt="x", background="transparent"))
    assert preq.background is None and "transparent" in preq.warnings[0]


async def test_imagen_generates_up_to_four_per_call(google):
    server, _, imagen = google
    other = render_png(b"second", 64, 64)
    server.route("POST", PREDICT, Reply(200, load("imagen", "success", IMAGE=PNG, IMAGE2=other)))
    preq = imagen.prepare(GenerationRequest(prompt="a fox", n=2, aspect_ratio="16:9"))
    result = await imagen.run(preq)
    assert server.received[0].headers["x-goog-api-key"] == KEY
    assert server.received[0].json() == {
        "instances": [{"prompt": "a fox"}],
        "parameters": {"sampleCount": 2, "aspectRatio": "16:9", "personGeneration": "allow_adult",
                       "includeRaiReason": True, "imageSize": "1K"},
    }
    assert [i.data for i in result.images] == [PNG, other]
    assert result.size == "1408x768" and result.cost_micros == 80_000 and result.filtered == 0


async def test_imagen_reports_filtered_images_and_bills_only_returned_ones(google):
    server, _, imagen = google
    server.route("POST", PREDICT, Reply(200, load("imagen", "partially_filtered", IMAGE=PNG)))
    result = await imagen.run(imagen.prepare(GenerationRequest(prompt="crowd", n=2)))
    assert len(result.images) == 1 and result.filtered == 1
    assert result.cost_micros == 40_000
    assert "Support codes: 56562880" in result.warnings[0]


async def test_imagen_all_filtered_or_prefiltered_is_a_refusal(google):
    server, _, imagen = google
    server.route("POST", PREDICT, Reply(200, load("imagen", "all_filtered")))
    with pytest.raises(errors.ProviderRefused) as caught:
        await imagen.run(imagen.prepare(GenerationRequest(prompt="no", n=2)))
    assert caught.value.details["filtered"] == 2
    server.route("POST", PREDICT, Reply(400, load("imagen", "prompt_prefilter")))
    with pytest.raises(errors.ProviderRefused) as caught:
        await imagen.run(imagen.prepare(GenerationRequest(prompt="no")))
    assert caught.value.details["reason"] == "prompt_prefilter"


async def test_imagen_models_sizes_and_prices(google):
    server, _, imagen = google
    fast = imagen.prepare(GenerationRequest(prompt="x", model="imagen-4.0-fast-generate-001", size="2048x2048", n=5))
    assert fast.size == "1024x1024" and any("1K only" in w for w in fast.warnings)
    assert "imageSize" not in imagen.request_body(fast)["parameters"]
    assert imagen.estimate(fast).cost_micros == 100_000
    ultra = imagen.prepare(GenerationRequest(prompt="x", model="imagen-4.0-ultra-generate-001", size="2816x1536"))
    assert imagen.request_body(ultra)["parameters"]["imageSize"] == "2K" and imagen.estimate(ultra).cost_micros == 60_000
    with pytest.raises(errors.UnsupportedByProvider):
        imagen.prepare(GenerationRequest(prompt="x", images=[{"image_id": "i"}]), images=(InputImage(PNG, "image/png"),))
    # n=5 on a 4-per-call model: two calls
    server.route("POST", "/v1beta/models/imagen-4.0-fast-generate-001:predict",
                 Reply(200, load("imagen", "success", IMAGE=PNG, IMAGE2=PNG)))
    result = await imagen.run(fast)
    assert [r.json()["parameters"]["sampleCount"] for r in server.received] == [4, 1]
    # the fake answers two images per call: 2 of the first 4 withheld, one too many on the second (billed, not kept)
    assert (len(result.images), result.filtered, result.cost_micros) == (3, 2, 4 * 20_000)


async def test_probes_do_not_generate(google):
    server, gemini, imagen = google
    server.route("GET", "/v1beta/models/gemini-2.5-flash-image", Reply(200, {"name": "models/gemini-2.5-flash-image"}))
    assert (await gemini.probe())["ok"] is True
    down = await imagen.probe()
    assert down["ok"] is False and down["detail"] == "provider_invalid_request"  # 404: no route on the fake
    assert all(r.method == "GET" for r in server.received)


async def test_a_failure_after_billed_calls_keeps_the_images_already_paid_for(google):
    server, gemini, _ = google
    server.sequence("POST", GEN, [Reply(200, load("gemini", "success", IMAGE=PNG)), Reply(200, load("gemini", "success", IMAGE=PNG)),
                                  Reply(503, load("gemini", "unavailable"))])
    result = await gemini.run(gemini.prepare(GenerationRequest(prompt="four please", n=4)))
    assert len(result.images) == 2 and result.cost_micros == 2 * (4 + 38_700)
    assert "2 of 4 images made; gemini failed on the rest (provider_unavailable)" in result.warnings
    assert len(server.received) == 3


async def test_imagen_large_images(google):
    server, _, imagen = google
    big = [b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024) for _ in range(2)]
    server.route("POST", PREDICT, Reply(200, load("imagen", "success", IMAGE=big[0], IMAGE2=big[1])))
    result = await imagen.run(imagen.prepare(GenerationRequest(prompt="big", n=2)))
    assert [i.data for i in result.images] == big


@pytest.mark.parametrize("status, fixture, error", [
    (429, "rate_limited", errors.ProviderRateLimited), (503, "unavailable", errors.ProviderUnavailable),
    (403, "permission_denied", errors.ProviderAuthError), (400, "invalid_argument", errors.ProviderInvalidRequest),
])
async def test_imagen_errors_are_typed(google, status, fixture, error):
    server, _, imagen = google
    server.route("POST", PREDICT, Reply(status, load("gemini", fixture)))  # the same Gemini API error body
    with pytest.raises(error):
        await imagen.run(imagen.prepare(GenerationRequest(prompt="x")))


async def test_imagen_malformed_answers(google):
    server, _, imagen = google
    for body in (b"<html>", b'{"predictions": "nope"}', b'{"predictions": [{"bytesBase64Encoded": "%%%"}]}'):
        server.route("POST", PREDICT, Reply(200, body, headers={"Content-Type": "application/json"}))
        with pytest.raises(errors.ProviderBadResponse):
            await imagen.run(imagen.prepare(GenerationRequest(prompt="x")))
