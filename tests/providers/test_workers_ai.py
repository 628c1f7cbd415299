"""Workers AI over the AiBinding port, served by the local fake of env.AI."""

from __future__ import annotations

import pytest

from local.http import HttpxClient
from local.workers_ai import FakeWorkersAI
from tests.clocks import clock_at
from pipeline import errors
from pipeline.generation.prepare import prepare
from pipeline.models import GenerationRequest
from pipeline.providers.base import ProviderContext
from pipeline.providers.workers_ai import MODEL, WorkersAiProvider, build


@pytest.fixture
def workers_ai():
    ai = FakeWorkersAI()
    return ai, WorkersAiProvider(ProviderContext(HttpxClient(), clock_at(), {}, ai))


async def test_generates_through_the_binding(workers_ai):
    ai, provider = workers_ai
    preq = prepare(provider, GenerationRequest(prompt="a cyberpunk lizard", quality="high", size="1536x1024"))
    result = await provider.run(preq)
    assert ai.calls == [(MODEL, {"prompt": "a cyberpunk lizard", "steps": 8})]
    assert len(result.images) == 1 and result.images[0].data.startswith(b"\x89PNG")
    assert result.size == "1024x1024" and "nearest 1024x1024" in result.warnings[0]
    # 4 tiles × 53 + 8 steps × 106 ($0.0000528 per tile, $0.0001056 per step, rounded up), per image
    assert result.cost_micros == 212 + 848 == provider.estimate(preq).cost_micros
    with pytest.raises(ValueError, match=r"at most 1 image\(s\) per call"):  # n is split by the generation
        await provider.run(prepare(provider, GenerationRequest(prompt="two", n=2)))
    assert len(ai.calls) == 1


async def test_lucid_origin_takes_width_height_and_num_steps(workers_ai):
    """The higher-quality model has its own input shape: any WxH (multiples of 8) and num_steps."""
    ai, provider = workers_ai
    preq = prepare(provider, GenerationRequest(prompt="a harbour", model="@cf/leonardo/lucid-origin", size="1344x768",
                                              quality="medium"))
    result = await provider.run(preq)
    assert ai.calls == [("@cf/leonardo/lucid-origin", {"prompt": "a harbour", "width": 1344, "height": 768, "num_steps": 25})]
    assert result.size == "1344x768" and (result.images[0].width, result.images[0].height) == (1344, 768)
    # 3x2 tiles of 512 at 7000 + 25 steps at 130 (catalog rates)
    assert result.cost_micros == 6 * 7_000 + 25 * 130 == provider.estimate(preq).cost_micros
    odd = prepare(provider, GenerationRequest(prompt="x", model="@cf/leonardo/lucid-origin", size="1000x1001"))
    assert odd.size == "1000x1000" and "multiples of 8" in odd.warnings[0]


@pytest.mark.parametrize("message, error", [
    ("AiError: 3040: Capacity temporarily exceeded, please try again.", errors.ProviderRateLimited),
    ("AiError: 3036: You have used up your daily free allocation of 10,000 neurons.", errors.ProviderQuotaExhausted),
    ("AiError: 5007: No such model @cf/x or task", errors.ModelUnavailable),
    ("AiError: 3023: Service unavailable for account", errors.ProviderAuthError),
    ("InferenceUpstreamError: internal", errors.ProviderUnavailable),
])
async def test_binding_errors_are_typed_by_code(workers_ai, message, error):
    ai, provider = workers_ai
    ai.fail_with = [RuntimeError(message)]
    with pytest.raises(error) as caught:
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))
    assert type(caught.value) is error and caught.value.provider == "workers-ai"


@pytest.mark.parametrize("answer", [{}, {"image": ""}, {"image": "@@not base64@@"}, {"result": "x"}])
async def test_malformed_output(workers_ai, answer):
    ai, provider = workers_ai
    ai.answer = answer
    with pytest.raises(errors.ProviderBadResponse):
        await provider.run(prepare(provider, GenerationRequest(prompt="x")))


async def test_only_built_with_a_binding_and_never_edits(workers_ai):
    _, provider = workers_ai
    assert build(ProviderContext(HttpxClient(), clock_at(), {}, None)) is None
    with pytest.raises(errors.UnsupportedByProvider):
        prepare(provider, GenerationRequest(prompt="x", images=[{"image_id": "i"}]), images=(object(),))
    with pytest.raises(errors.ProviderInvalidRequest):
        await provider.run(prepare(provider, GenerationRequest(prompt="x" * 2049)))


async def test_auto_mode_serves_from_workers_ai_when_it_is_the_only_real_provider(make_services, client_for):
    services = make_services({"PLACEHOLDER_ENABLED": "true"}, ai=FakeWorkersAI())
    response = await client_for(services).post("/v1/generations", json={"prompt": "on-platform"})
    assert response.status_code == 201 and response.json()["provider"] == "workers-ai"
