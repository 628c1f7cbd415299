"""OpenAI GPT Image against a fake Images API on 127.0.0.1 (tests/fixtures/openai):
generations, multipart edits, SSE streaming, every error class, malformed answers."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from dataclasses import replace

import pytest

from local.http import HttpxClient
from tests.clocks import clock_at
from pipeline import errors
from pipeline.models import GenerationRequest
from pipeline.providers.base import InputImage, ProviderContext
from pipeline.providers.openai import OpenAIProvider
from pipeline.providers.placeholder import render_png
from pipeline.generation.prepare import prepare, safety_identifier
from tests.fakes.fixtures import load
from tests.fakes.openai import EDITS, GENERATIONS, KEY, form_parts
from tests.fakes.server import Reply, StreamReply

PNG = render_png(b"openai", 64, 64)


def sse_frame(event: str, payload: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


async def test_generation_sends_the_documented_body(openai):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(200, load("openai", "generation", IMAGE=PNG)))
    preq = prepare(provider, GenerationRequest(prompt="a red fox", quality="low", n=1, background="opaque",
                                              output_format="png", moderation="low", caller="u-1"))
    result = await provider.run(preq)
    sent = server.received[0]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {"model": "gpt-image-2.6-flare", "prompt": "a red fox", "n": 1, "size": "1024x1024", "quality": "low",
                           "background": "opaque", "output_format": "png", "moderation": "low",
                           "safety_identifier": safety_identifier("u-1")}  # not the deprecated `user`
    assert result.images[0].data == PNG and result.images[0].content_type == "image/png"
    assert result.cost_micros == 250 + 8_160 and "usage" in result.cost_basis


async def test_edit_is_multipart_with_images_and_mask(openai):
    server, provider = openai
    server.route("POST", EDITS, Reply(200, load("openai", "edit", IMAGE=PNG)))
    a, b, mask = render_png(b"a", 32, 32), render_png(b"b", 32, 32), render_png(b"mask", 32, 32, transparent=True)
    preq = prepare(provider,
        GenerationRequest(prompt="put them together", size="1536x1024", quality="medium", background="transparent",
                          output_format="webp", images=[{"image_id": "x"}, {"image_id": "y"}], mask={"image_id": "m"}),
        images=(InputImage(a, "image/png"), InputImage(b, "image/png")), mask=InputImage(mask, "image/png"))
    result = await provider.run(preq)
    parts = form_parts(server.received[0])
    fields = {name: value.decode() for name, filename, _, value in parts if filename is None}
    assert fields == {"model": "gpt-image-2.6-flare", "prompt": "put them together", "n": "1", "size": "1536x1024",
                      "quality": "medium", "background": "transparent", "output_format": "webp"}
    files = [(name, ctype, value) for name, filename, ctype, value in parts if filename is not None]
    assert files == [("image[]", "image/png", a), ("image[]", "image/png", b), ("mask", "image/png", mask)]
    assert result.images[0].content_type == "image/webp" and result.size == "1536x1024"
    # 16 text tokens × $5/1M + 1194 image tokens × $8/1M + 1568 out × $30/1M (no output split: all image output)
    assert result.cost_micros == 80 + 9_552 + 47_040
    assert provider.estimate(preq).cost_micros > 47_040 + 9_552  # output tokens plus the input images


@pytest.mark.parametrize("status, fixture, error, headers", [
    (429, "rate_limited", errors.ProviderRateLimited, {"Retry-After": "12"}),
    (500, "server_error", errors.ProviderUnavailable, {}),
    (503, "server_error", errors.ProviderUnavailable, {}),
    (401, "invalid_key", errors.ProviderAuthError, {}),
    (400, "invalid_size", errors.ProviderInvalidRequest, {}),
    (400, "moderation_blocked", errors.ProviderRefused, {}),
])
async def test_errors_are_typed(openai, status, fixture, error, headers):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(status, load("openai", fixture), headers=headers))
    with pytest.raises(error) as caught:
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))
    exc = caught.value
    assert type(exc) is error and exc.provider == "openai"
    assert KEY not in json.dumps(exc.to_dict()) and "cret" not in json.dumps(exc.to_dict())
    if status == 429:
        assert exc.retry_after_s == 12 and exc.retryable
    if error is errors.ProviderRefused:
        assert exc.details["moderation"]["moderation_stage"] == "input" and not exc.fallback


async def test_timeouts_and_dropped_connections_are_retryable(openai, fake_server):
    server, _ = openai
    server.route("POST", GENERATIONS, Reply(200, load("openai", "generation", IMAGE=PNG), delay_s=2))
    slow = OpenAIProvider(ProviderContext(HttpxClient(), clock_at(),
                                          {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url, "OPENAI_TIMEOUT_S": "0.3"}))
    with pytest.raises(errors.ProviderTimeout):
        await slow.run(prepare(slow, GenerationRequest(prompt="x")))
    closed = fake_server()
    url = closed.url
    closed.stop()  # nothing listens there any more: connection refused
    gone = OpenAIProvider(ProviderContext(HttpxClient(), clock_at(), {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url}))
    with pytest.raises(errors.ProviderUnavailable) as caught:
        await gone.run(prepare(gone, GenerationRequest(prompt="x")))
    assert caught.value.retryable and caught.value.fallback


@pytest.mark.parametrize("body", [b"not json at all", b'{"data": []}', b'{"data": [{"url": "https://x"}]}',
                                  b'{"data": [{"b64_json": "***not base64***"}]}'])
async def test_malformed_answers_are_bad_responses(openai, body):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(200, body, headers={"Content-Type": "application/json"}))
    with pytest.raises(errors.ProviderBadResponse):
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))


async def test_a_large_image_decodes_intact(openai):
    server, provider = openai
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024)
    server.route("POST", GENERATIONS, Reply(200, load("openai", "generation", IMAGE=big)))
    assert (await provider.run(prepare(provider, GenerationRequest(prompt="big")))).images[0].data == big


async def test_streaming_yields_partial_images_before_completion(openai):
    server, provider = openai
    previews = [render_png(f"p{i}".encode(), 16, 16) for i in range(2)]
    final = b"\x89PNG\r\n\x1a\n" + os.urandom(4 * 1024 * 1024)  # the final image is large: parsed incrementally
    release = threading.Event()

    def frames():
        for i, preview in enumerate(previews):
            payload = load("openai", "partial_image", IMAGE=preview) | {"partial_image_index": i}
            yield sse_frame("image_generation.partial_image", payload)
        assert release.wait(10), "the adapter never surfaced the partial images"
        data = sse_frame("image_generation.completed", load("openai", "completed", IMAGE=final))
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    server.route("POST", GENERATIONS, lambda _req: StreamReply(frames()))
    preq = prepare(provider, GenerationRequest(prompt="stream it", quality="low"))
    events = provider.stream(replace(preq, partial_images=2))
    seen = []
    while True:
        try:
            event = await asyncio.wait_for(events.__anext__(), 10)
        except StopAsyncIteration:
            break
        seen.append(event)
        if event.kind == "partial_image" and event.index == 1:
            release.set()  # only now does the fake server send the completed event
    assert [e.kind for e in seen] == ["partial_image", "partial_image", "result"]
    assert [e.image.data for e in seen[:2]] == previews
    result = seen[-1].result
    assert result.images[0].data == final and result.cost_micros == 8_410
    body = server.received[0].json()
    assert body["stream"] is True and body["partial_images"] == 2


async def test_stream_errors_become_typed_errors(openai):
    server, provider = openai
    preq = replace(prepare(provider, GenerationRequest(prompt="x")), partial_images=1)
    error_event = sse_frame("error", {"type": "error", "error": {"message": "Internal error", "type": "server_error", "code": None}})
    server.route("POST", GENERATIONS, lambda _req: StreamReply([error_event]))
    with pytest.raises(errors.ProviderUnavailable):
        [e async for e in provider.stream(preq)]
    server.route("POST", GENERATIONS, lambda _req: StreamReply([sse_frame("image_generation.partial_image",
                                                                          load("openai", "partial_image", IMAGE=PNG))]))
    with pytest.raises(errors.ProviderBadResponse, match="without a completed image"):
        [e async for e in provider.stream(preq)]
    server.route("POST", GENERATIONS, Reply(400, load("openai", "moderation_blocked")))
    with pytest.raises(errors.ProviderRefused):
        [e async for e in provider.stream(preq)]


async def test_probe_checks_the_model_without_generating(openai):
    server, provider = openai
    server.route("GET", "/v1/models/gpt-image-2.6-flare", Reply(200, {"id": "gpt-image-2.6-flare", "object": "model", "owned_by": "system"}))
    probe = await provider.probe()
    assert probe["ok"] is True and isinstance(probe["latency_ms"], int)
    server.route("GET", "/v1/models/gpt-image-2.6-flare", Reply(401, load("openai", "invalid_key")))
    assert (await provider.probe()) | {"latency_ms": 0} == {"ok": False, "latency_ms": 0, "detail": "provider_auth_error"}
    assert all(r.method == "GET" for r in server.received)


def test_estimates_never_fall_below_what_tokens_bill(openai):
    """For every usable model, quality and preset size, the estimate covers the image
    output tokens the API bills and a long prompt's tokens, at the catalog's rates."""
    from pipeline.catalog import openai as openai_catalog, pricing

    _, provider = openai
    long_prompt = "a lighthouse at dusk, " * 1400  # 30,800 characters, ~7,000 English tokens
    day = provider.ctx.clock.now().date()
    checked = 0
    for spec in openai_catalog.CATALOG.models:
        if spec.status_on(day) == "shut_down":
            continue
        rates = spec.price.rates
        for quality in spec.qualities:
            for size in spec.sizes.fixed:
                req = GenerationRequest(prompt="x", model=spec.id, quality=quality, size=size)
                short = provider.estimate(prepare(provider, req))
                w, h = map(int, size.split("x"))
                worst = "max" if quality == "auto" and "max" in spec.qualities else ("high" if quality == "auto" else quality)
                tokens = -(-openai_catalog.OUTPUT_TOKENS_1024[worst] * w * h // (1024 * 1024))
                assert short.cost_micros >= pricing.tokens_cost(tokens, rates["image_out"]), (spec.id, quality, size)
                long = provider.estimate(prepare(provider, req.model_copy(update={"prompt": long_prompt})))
                assert long.cost_micros - short.cost_micros >= pricing.tokens_cost(len(long_prompt) // 4, rates["text_in"])
                checked += 1
    assert checked > 50
