"""The Gemini image models (catalog/gemini.py) against a fake Gemini API on 127.0.0.1
answering in the documented wire format (tests/fixtures/gemini)."""

from __future__ import annotations

import base64
import os

import pytest

from local.http import HttpxClient
from tests.clocks import clock_at
from pipeline import errors
from pipeline.catalog import pricing
from pipeline.generation.prepare import prepare
from pipeline.models import GenerationRequest
from pipeline.providers.base import InputImage, ProviderContext
from pipeline.providers.gemini import BLOCK_REASONS, FINISH_REASONS, GeminiProvider
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply

KEY = "AIza-test-secret-key"
NB21 = "gemini-nano-banana-2.1"
GEN = f"/v1beta/models/{NB21}:generateContent"
PRO = "/v1beta/models/gemini-3-pro-image:generateContent"
PNG = render_png(b"google", 64, 64)


@pytest.fixture
def google(fake_server):
    server = fake_server()
    gemini = GeminiProvider(ProviderContext(HttpxClient(), clock_at(), {"GEMINI_API_KEY": KEY, "GEMINI_BASE_URL": server.url}))
    return server, gemini


async def test_the_default_is_current_and_the_request_is_the_documented_one(google):
    server, gemini = google
    server.route("POST", GEN, Reply(200, load("gemini", "success", IMAGE=PNG)))
    preq = prepare(gemini, GenerationRequest(prompt="a banana in a tuxedo", size="1920x1080", person_generation="dont_allow"))
    assert preq.model == NB21  # the cost-conscious default, not the shut-down 2.5 Flash Image
    result = await gemini.run(preq)

    sent = server.received[0]
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.json() == {
        "contents": [{"role": "user", "parts": [{"text": "a banana in a tuxedo"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"],
                             "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"}},  # personGeneration: Vertex only
    }
    assert result.size == "2688x1536" and "nearest 2688x1536" in result.warnings[0]
    assert "person_generation=dont_allow is not supported by the Gemini API" in result.warnings[1]
    assert result.images[0].data == PNG and result.images[0].content_type == "image/png"
    # 11 prompt tokens at $1.50/1M (16.5, rounded up) + 1120 image tokens at $30/1M
    assert result.cost_micros == 17 + 33_600


async def test_every_aspect_ratio_and_image_size_the_model_takes(google):
    _, gemini = google
    for ratio in ("1:1", "4:5", "21:9", "1:4", "8:1"):
        preq = prepare(gemini, GenerationRequest(prompt="x", aspect_ratio=ratio))
        assert gemini.request_body(preq)["generationConfig"]["imageConfig"]["aspectRatio"] == ratio and not preq.warnings
    four_k = prepare(gemini, GenerationRequest(prompt="x", size="4096x4096"))
    assert gemini.request_body(four_k)["generationConfig"]["imageConfig"]["imageSize"] == "4K"
    lite = prepare(gemini, GenerationRequest(prompt="x", model="gemini-3.1-flash-lite-image", size="4096x4096"))
    assert lite.size == "1024x1024" and "imageSize" not in gemini.request_body(lite)["generationConfig"]["imageConfig"]
    # a 4K image is estimated at its own token count (3780 at $30/1M), not the 1K one
    assert gemini.estimate(four_k).cost_micros > gemini.estimate(prepare(gemini, GenerationRequest(prompt="x"))).cost_micros + 70_000


async def test_edits_send_inline_data(google):
    server, gemini = google
    server.route("POST", GEN, Reply(200, load("gemini", "success", IMAGE=PNG)))
    source = render_png(b"source", 32, 32)
    preq = prepare(gemini, GenerationRequest(prompt="make it night", images=[{"image_id": "img_x"}]),
                          images=(InputImage(source, "image/png"),))
    result = await gemini.run(preq)
    assert len(result.images) == 1 and len(server.received) == 1
    parts = server.received[0].json()["contents"][0]["parts"]
    assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(source).decode()}}
    assert parts[1] == {"text": "make it night"}
    assert result.cost_micros == 17 + 33_600


async def test_never_more_images_than_asked(google):
    server, gemini = google
    server.route("POST", GEN, Reply(200, load("gemini", "two_images", IMAGE=PNG, IMAGE2=render_png(b"2", 8, 8))))
    result = await gemini.run(prepare(gemini, GenerationRequest(prompt="one")))
    assert len(result.images) == 1 and result.images[0].data == PNG
    assert result.cost_micros == 17 + 2240 * 30  # both were billed
    assert "returned 2 images for 1 asked" in result.warnings[0]


async def test_cost_without_token_details_counts_no_token_twice(google):
    server, gemini = google
    server.route("POST", PRO, Reply(200, load("gemini", "no_token_details", IMAGE=PNG)))
    result = await gemini.run(prepare(gemini, GenerationRequest(prompt="pro", model="gemini-3-pro-image")))
    rates = gemini.rates("gemini-3-pro-image")
    # all 1130 candidate tokens at the image rate (not 1130 text + 1120 image), thoughts at the text rate
    expected = (pricing.tokens_cost(11, rates["text_in"]) + pricing.tokens_cost(1130, rates["image_out"])
                + pricing.tokens_cost(200, rates["text_out"]))
    assert result.cost_micros == expected
    assert result.usage == {"prompt_tokens": 11, "image_output_tokens": 1130, "text_output_tokens": 200}


def test_every_finish_and_block_reason_of_the_sdk_is_mapped_deliberately():
    types = pytest.importorskip("google.genai.types")
    assert {r.value for r in types.FinishReason} <= set(FINISH_REASONS)
    assert {r.value for r in types.BlockedReason} <= set(BLOCK_REASONS)
    assert FINISH_REASONS["IMAGE_SAFETY"] is errors.ProviderRefused and FINISH_REASONS["MALFORMED_RESPONSE"] is errors.ProviderBadResponse


@pytest.mark.parametrize("fixture, reason, error", [
    ("image_safety", "IMAGE_SAFETY", errors.ProviderRefused), ("prompt_blocked", "PROHIBITED_CONTENT", errors.ProviderRefused),
    ("text_only", "STOP", errors.ProviderRefused), ("no_image", "NO_IMAGE", errors.ProviderRefused),
    ("jailbreak", "JAILBREAK", errors.ProviderRefused),
])
async def test_safety_outcomes(google, fixture, reason, error):
    server, gemini = google
    server.route("POST", GEN, Reply(200, load("gemini", fixture)))
    with pytest.raises(error) as caught:
        await gemini.run(prepare(gemini, GenerationRequest(prompt="no")))
    assert type(caught.value) is error and caught.value.details["reason"] == reason
    assert caught.value.retryable is False and caught.value.fallback is False


@pytest.mark.parametrize("status, fixture, error, retry_after", [
    (429, "rate_limited", errors.ProviderRateLimited, 7.0),
    (429, "daily_quota", errors.ProviderQuotaExhausted, None),
    (400, "invalid_argument", errors.ProviderInvalidRequest, None),
    (400, "api_key_invalid", errors.ProviderAuthError, None),
    (403, "permission_denied", errors.ProviderAuthError, None),
    (404, "model_not_found", errors.ModelUnavailable, None),
    (503, "unavailable", errors.ProviderUnavailable, None),
])
async def test_errors_are_typed(google, status, fixture, error, retry_after):
    server, gemini = google
    server.route("POST", GEN, Reply(status, load("gemini", fixture)))
    with pytest.raises(error) as caught:
        await gemini.run(prepare(gemini, GenerationRequest(prompt="x")))
    assert type(caught.value) is error
    assert caught.value.retry_after_s == retry_after
    assert KEY not in str(caught.value.to_dict())
    if error in (errors.ProviderQuotaExhausted, errors.ProviderAuthError, errors.ModelUnavailable):
        assert caught.value.retryable is False and caught.value.fallback is True


async def test_a_model_the_api_says_is_gone_is_not_chosen_again(google):
    server, gemini = google
    server.route("POST", GEN, Reply(404, load("gemini", "model_not_found")))
    with pytest.raises(errors.ModelUnavailable):
        await gemini.run(prepare(gemini, GenerationRequest(prompt="x")))
    assert prepare(gemini, GenerationRequest(prompt="x")).model != NB21  # the next usable model of the catalog
    with pytest.raises(errors.ModelUnavailable):  # named explicitly: a clear error, no call
        prepare(gemini, GenerationRequest(prompt="x", model=NB21))
    assert len(server.received) == 1


async def test_a_shut_down_model_is_refused_before_any_call_naming_its_replacement(google):
    server, gemini = google
    with pytest.raises(errors.ModelUnavailable) as caught:
        prepare(gemini, GenerationRequest(prompt="x", model="gemini-2.5-flash-image"))
    assert "use gemini-nano-banana-2.1 instead" in caught.value.message
    assert caught.value.details["replacement"] == NB21 and not server.received


@pytest.mark.parametrize("body", [b"<html>gateway</html>", b'{"candidates": []}',
                                  b'{"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%%"}}]}, "finishReason": "STOP"}]}'])
async def test_malformed_answers(google, body):
    server, gemini = google
    server.route("POST", GEN, Reply(200, body, headers={"Content-Type": "application/json"}))
    with pytest.raises(errors.ProviderBadResponse):
        await gemini.run(prepare(gemini, GenerationRequest(prompt="x")))


async def test_large_image(google):
    server, gemini = google
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024)
    server.route("POST", GEN, Reply(200, load("gemini", "success", IMAGE=big)))
    assert (await gemini.run(prepare(gemini, GenerationRequest(prompt="big")))).images[0].data == big


async def test_reference_image_limits_mask_and_transparency(google):
    _, gemini = google
    many = tuple(InputImage(PNG, "image/png") for _ in range(14))
    preq = prepare(gemini, GenerationRequest(prompt="x", images=[{"image_id": "i"}] * 14), images=many)
    assert len(preq.images) == 14
    with pytest.raises(errors.UnsupportedByProvider, match="at most 3"):
        prepare(gemini, GenerationRequest(prompt="x", model="gemini-3.1-flash-lite-image", images=[{"image_id": "i"}] * 4),
                       images=many[:4])
    with pytest.raises(errors.UnsupportedByProvider):
        prepare(gemini, GenerationRequest(prompt="x", images=[{"image_id": "i"}], mask={"image_id": "m"}),
                       images=(InputImage(PNG, "image/png"),), mask=InputImage(PNG, "image/png"))
    preq = prepare(gemini, GenerationRequest(prompt="x", background="transparent"))
    assert preq.background is None and "transparent" in preq.warnings[0]


async def test_probe_does_not_generate(google):
    server, gemini = google
    server.route("GET", f"/v1beta/models/{NB21}", Reply(200, {"name": f"models/{NB21}"}))
    assert (await gemini.probe())["ok"] is True
    assert all(r.method == "GET" for r in server.received)


async def test_one_call_is_at_most_one_image_and_more_is_never_sent(google):
    """n is split into calls by the generation (tests/generation/test_calls.py), never here."""
    server, gemini = google
    assert gemini.images_per_call(NB21) == 1 and gemini.capabilities.parallel_calls == 4
    with pytest.raises(ValueError, match=r"at most 1 image\(s\) per call"):
        await gemini.run(prepare(gemini, GenerationRequest(prompt="four please", n=4)))
    assert server.received == []
