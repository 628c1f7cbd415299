"""The catalog in real workerd: current models and their statuses in GET /v1/providers,
Gemini's n > 1 as parallel calls (asyncio.gather on Pyodide), a shut-down model refused
naming its replacement, a model the provider calls gone falling back, and a run-time
price override read from D1 (migration 0003) and applied to the next bill."""

from __future__ import annotations

import time

from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.openai import openai_success

PNG = render_png(b"catalog-workerd", 64, 64)
NB21 = "/v1beta/models/gemini-nano-banana-2.1:generateContent"


def test_providers_show_current_models_with_status_and_shutdown_date(http):
    providers = {p["name"]: p for p in http.get("/v1/providers").json()["providers"]}
    openai = {m["id"]: m for m in providers["openai"]["models"]}
    gemini = {m["id"]: m for m in providers["gemini"]["models"]}
    assert openai["gpt-image-2.6-flare"]["default"] is True and openai["gpt-image-2.6-flare"]["status"] == "active"
    assert openai["gpt-image-1"]["status"] == "shut_down" and openai["gpt-image-1"]["shutdown_date"] == "2026-10-23"
    assert gemini["gemini-nano-banana-2.1"]["default"] is True
    assert gemini["gemini-2.5-flash-image"]["status"] == "shut_down"
    assert gemini["gemini-nano-banana-2.1"]["price"]["source"] and gemini["gemini-nano-banana-2.1"]["price"]["checked"]


def test_gemini_n_images_run_as_parallel_calls_with_the_current_request(http, fakes):
    fakes.gemini.route("POST", NB21, Reply(200, load("gemini", "success", IMAGE=PNG), delay_s=0.3))
    started = time.monotonic()
    result = http.post("/v1/generations", json={"prompt": "three hares", "provider": "gemini", "n": 3,
                                                "aspect_ratio": "1:4", "person_generation": "dont_allow"}).json()
    elapsed = time.monotonic() - started
    assert result["status"] == "succeeded" and len(result["images"]) == 3, result
    assert len(fakes.gemini.received) == 3 and elapsed < 0.3 * 3 + 5
    config = fakes.gemini.received[0].json()["generationConfig"]["imageConfig"]
    # the Gemini API takes no personGeneration (google-genai refuses to send it there): a warning instead
    assert config == {"aspectRatio": "1:4", "imageSize": "1K"}
    assert any("person_generation" in w for w in result["warnings"])
    assert result["actual_cost_micros"] == 3 * (17 + 33_600)


def test_a_shut_down_model_is_refused_naming_its_replacement(http, fakes):
    refused = http.post("/v1/generations", json={"prompt": "x", "model": "gpt-image-1"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "model_unavailable"
    assert "gpt-image-2.5-sunburst" in refused.json()["error"]["message"]
    assert not fakes.openai.received and not fakes.gemini.received


def test_a_model_the_provider_calls_gone_falls_back(http, fakes):
    fakes.gemini.fallback = lambda _req: Reply(404, load("gemini", "model_not_found"))
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    result = http.post("/v1/generations", json={"prompt": "a fox"}).json()
    assert result["status"] == "succeeded" and result["provider"] == "openai", result
    assert [a["error_code"] for a in result["attempts"] if a["provider"] == "gemini"] == ["model_unavailable"]


def test_a_price_override_is_recorded_in_d1_and_bills_the_next_request(http, fakes):
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    put = http.put("/v1/prices/gpt-image-2.6-flare", json={"rates": {"image_out": 15_000_000}, "reason": "workerd test"})
    assert put.status_code == 200, put.text
    try:
        result = http.post("/v1/generations", json={"prompt": "x", "provider": "openai", "quality": "low"}).json()
        assert result["actual_cost_micros"] == 250 + 272 * 15
        history = http.get("/v1/prices/history", params={"model": "gpt-image-2.6-flare"}).json()["history"]
        assert history[0]["reason"] == "workerd test"
    finally:
        http.request("DELETE", "/v1/prices/gpt-image-2.6-flare", json={"reason": "restore"})


def test_imagen_on_vertex_signs_its_service_account_jwt_with_webcrypto(http, fakes):
    predict = ("/v1/projects/proj-1/locations/europe-west4/publishers/google/models/"
               "imagen-4.0-fast-generate-001:predict")
    fakes.vertex.route("POST", predict, Reply(200, load("imagen", "success", IMAGE=PNG, IMAGE2=PNG)))
    answer = http.post("/v1/generations", json={"prompt": "a lighthouse", "provider": "imagen",
                                                "model": "imagen-4.0-fast-generate-001"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["provider"] == "imagen" and answer.json()["status"] == "succeeded"
    assert len(fakes.vertex_tokens) == 1  # the fake verified the RS256 signature against the account's key
    sent = [r for r in fakes.vertex.received if r.path == predict][-1]
    assert sent.headers["authorization"].startswith("Bearer ") and sent.json()["instances"] == [{"prompt": "a lighthouse"}]
