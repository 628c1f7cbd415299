"""The current GPT Image models with their real parameters (catalog/openai.py), against
the fake Images API: sizes, qualities, complexity, formats, edit fields, usage split,
retry headers, quota and retired-model errors."""

from __future__ import annotations

import pytest

from local.http import HttpxClient
from tests.clocks import clock_at
from pipeline import errors
from pipeline.catalog import pricing
from pipeline.generation.prepare import prepare
from pipeline.models import GenerationRequest
from pipeline.providers.base import InputImage, ProviderContext
from pipeline.providers.openai import OpenAIProvider
from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.test_provider_openai import EDITS, GENERATIONS, KEY, form_parts

PNG = render_png(b"models", 32, 32)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 16


@pytest.fixture
def openai(fake_server):
    server = fake_server()
    return server, OpenAIProvider(ProviderContext(HttpxClient(), clock_at(), {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}))


def test_defaults_are_current_models():
    flare = OpenAIProvider(ProviderContext(HttpxClient(), clock_at(), {"OPENAI_API_KEY": KEY}))
    sunburst = OpenAIProvider(ProviderContext(HttpxClient(), clock_at(), {"OPENAI_API_KEY": KEY, "MODEL_TIER": "quality"}))
    assert prepare(flare, GenerationRequest(prompt="x")).model == "gpt-image-2.6-flare"
    assert prepare(sunburst, GenerationRequest(prompt="x")).model == "gpt-image-2.6-sunburst"


@pytest.mark.parametrize("model, replacement", [("gpt-image-1", "gpt-image-2.5-sunburst"), ("dall-e-3", "gpt-image-2.6-flare")])
def test_a_shut_down_model_is_refused_naming_its_replacement(openai, model, replacement):
    server, provider = openai
    with pytest.raises(errors.ModelUnavailable) as caught:
        prepare(provider, GenerationRequest(prompt="x", model=model))
    assert f"use {replacement} instead" in caught.value.message and caught.value.details["replacement"] == replacement
    assert not server.received


async def test_arbitrary_sizes_where_the_model_allows_them(openai):
    _, provider = openai
    ok = prepare(provider, GenerationRequest(prompt="x", model="gpt-image-2.5-flare", size="1536x864"))
    assert ok.size == "1536x864" and not ok.warnings
    for asked, why in (("1000x1000", "multiples of 16"), ("3840x960", "between 1:3 and 3:1"), ("4096x2304", "longest side")):
        fitted = prepare(provider, GenerationRequest(prompt="x", model="gpt-image-2", size=asked))
        w, h = map(int, fitted.size.split("x"))
        assert why in fitted.warnings[0] and w % 16 == 0 and h % 16 == 0 and 1 / 3 <= w / h <= 3 and w * h <= 3840 * 2160
    fixed = prepare(provider, GenerationRequest(prompt="x", size="1536x864"))  # 2.6: the three standard sizes
    assert fixed.size == "1536x1024" and "nearest" in fixed.warnings[0]


async def test_qualities_complexity_and_formats(openai):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(200, load("openai", "generation_split_usage", IMAGE=WEBP)))
    preq = prepare(provider, GenerationRequest(prompt="a map", model="gpt-image-2.5-sunburst", quality="xhigh",
                                              size="1536x864", complexity="high", output_format="webp", caller="u-9"))
    result = await provider.run(preq)
    body = server.received[0].json()
    assert body["quality"] == "xhigh" and body["complexity"] == "high" and body["output_format"] == "webp"
    assert "user" not in body and len(body["safety_identifier"]) == 32 and body["safety_identifier"] != "u-9"
    # image and text output tokens at their own rates: 40 in x $5 + 5000 image out x $30 + 300 text out x $10
    assert result.cost_micros == 200 + 150_000 + 3_000
    assert result.images[0].content_type == "image/webp"
    capped = prepare(provider, GenerationRequest(prompt="x", quality="max"))  # 2.6 stops at high (SDK)
    assert capped.quality is None and "xhigh" not in capped.warnings[0] and "max" in capped.warnings[0]


@pytest.mark.parametrize("fmt", ["gif", "svg"])
def test_gif_and_svg_are_refused_with_the_reason(openai, fmt):
    _, provider = openai
    with pytest.raises(errors.UnsupportedByProvider, match=f"{fmt} output .* not supported"):
        prepare(provider, GenerationRequest(prompt="x", output_format=fmt))


async def test_edit_fields_are_the_edits_endpoint_fields(fake_server):
    server = fake_server()  # 1.5 and mini as they were served, the week before their shutdown
    provider = OpenAIProvider(ProviderContext(HttpxClient(), clock_at("2026-11-24"), {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}))
    server.route("POST", EDITS, Reply(200, load("openai", "edit", IMAGE=PNG)))
    src = (InputImage(PNG, "image/png"),)
    preq = prepare(provider, GenerationRequest(prompt="fix", moderation="low", input_fidelity="high", complexity="low",
                                              model="gpt-image-1.5", images=[{"image_id": "a"}]), images=src)
    await provider.run(preq)
    fields = {name: value.decode() for name, filename, _, value in form_parts(server.received[0]) if filename is None}
    assert "moderation" not in fields and fields["input_fidelity"] == "high"
    assert "complexity" not in fields  # 1.5 predates complexity: dropped with a warning
    gpt2 = prepare(provider, GenerationRequest(prompt="fix", input_fidelity="high", model="gpt-image-2",
                                              images=[{"image_id": "a"}]), images=src)
    assert gpt2.input_fidelity is None and "input_fidelity" in gpt2.warnings[0]  # "omit it" for gpt-image-2
    mini = prepare(provider, GenerationRequest(prompt="fix", input_fidelity="high", model="gpt-image-1-mini",
                                              images=[{"image_id": "a"}]), images=src)
    assert mini.input_fidelity is None  # mini takes low only


@pytest.mark.parametrize("fixture, status", [("insufficient_quota", 429), ("billing_limit", 400)])
async def test_quota_and_billing_limits_are_quota_errors_not_rate_limits(openai, fixture, status):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(status, load("openai", fixture), headers={"retry-after": "1"}))
    with pytest.raises(errors.ProviderQuotaExhausted) as caught:
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))
    assert caught.value.retryable is False and caught.value.fallback is True
    assert len(server.received) == 1


async def test_retry_after_ms_is_honoured_before_retry_after(openai):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(429, load("openai", "rate_limited"), headers={"retry-after-ms": "1500", "retry-after": "9"}))
    with pytest.raises(errors.ProviderRateLimited) as caught:
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))
    assert caught.value.retry_after_s == 1.5


async def test_a_retired_model_answer_marks_the_model_and_falls_back(openai):
    server, provider = openai
    server.route("POST", GENERATIONS, Reply(404, load("openai", "model_not_found")))
    with pytest.raises(errors.ModelUnavailable) as caught:
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))
    assert caught.value.fallback and not caught.value.retryable
    assert prepare(provider, GenerationRequest(prompt="x")).model == "gpt-image-2.6-sunburst"  # flare is not chosen again


def test_estimates_follow_the_catalog_rates_and_partial_images(openai):
    _, provider = openai
    low = prepare(provider, GenerationRequest(prompt="x", quality="low"))
    from dataclasses import replace
    streamed = replace(low, partial_images=3)
    assert provider.estimate(streamed).cost_micros - provider.estimate(low).cost_micros == pricing.tokens_cost(300, 30_000_000)
