"""The walking skeleton end to end: HTTP in, provider over HTTP, R2 + D1, HTTP out."""

from __future__ import annotations

import base64
import hashlib
import json

from pipeline.providers.placeholder import render_png
from pipeline.generation.prepare import safety_identifier
from tests.fakes.openai import OPENAI_ENV, openai_success
from tests.fakes.server import Reply

async def test_placeholder_generation_round_trip(make_services, client_for):
    services = make_services()
    client = client_for(services)
    response = await client.post("/v1/generations", json={"prompt": "a lighthouse at dusk", "n": 2, "size": "512x512"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["status"] == "succeeded"
    assert result["provider"] == "placeholder" and result["size"] == "512x512"
    assert response.headers["location"] == f"/v1/generations/{result['id']}"
    assert [i["index"] for i in result["images"]] == [0, 1]
    assert result["actual_cost_micros"] == 0 and result["completed_at"]

    again = await client.get(f"/v1/generations/{result['id']}")
    assert again.status_code == 200 and again.json() == result

    image = result["images"][0]
    got = await client.get(image["url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.content.startswith(b"\x89PNG")
    assert hashlib.sha256(got.content).hexdigest() == image["sha256"]
    assert len(got.content) == image["byte_size"]
    assert got.headers["etag"] == f'"{image["sha256"]}"'
    assert "immutable" in got.headers["cache-control"]
    unchanged = await client.get(image["url"], headers={"If-None-Match": got.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""

    rows = await services.db.all("SELECT * FROM images WHERE request_id = ? ORDER BY idx", (result["id"],))
    assert [(r["content_type"], r["byte_size"], r["sha256"]) for r in rows] == [
        (i["content_type"], i["byte_size"], i["sha256"]) for i in result["images"]
    ]
    stored = await services.objects.get(rows[1]["r2_key"])
    assert stored is not None and hashlib.sha256(stored.body).hexdigest() == rows[1]["sha256"]


async def test_unknown_ids_are_404_in_the_error_shape(make_services, client_for):
    client = client_for(make_services())
    for path in ("/v1/generations/gen_nope", "/v1/images/img_nope", "/v1/nowhere"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    wrong_method = await client.patch("/v1/generations/gen_x")  # DELETE exists since keys/deletion
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_bodies_name_the_field(make_services, client_for):
    client = client_for(make_services())
    bad_json = await client.post("/v1/generations", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["code"] == "malformed_body"

    cases = [
        ({}, "prompt"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "size": "huge"}, "size"),
        ({"prompt": "x", "colour": "red"}, "colour"),
        ({"prompt": "x", "quality": "ultra"}, "quality"),
    ]
    for body, field in cases:
        response = await client.post("/v1/generations", json=body)
        assert response.status_code == 422, body
        error = response.json()["error"]
        assert error["code"] == "invalid_request"
        assert field in error["message"], (field, error["message"])
        assert any(e["field"] == field for e in error["details"]["errors"])
    assert await make_services().db.all("SELECT id FROM generation_requests") == []


async def test_openai_generation_over_http(make_services, client_for, fake_server):
    openai = fake_server()
    png = render_png(b"openai", 1024, 1024)
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(png)))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    client = client_for(services)

    response = await client.post("/v1/generations", json={"prompt": "a red fox", "quality": "low", "caller": "app-1"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert (result["provider"], result["model"], result["caller"]) == ("openai", "gpt-image-2.6-flare", "app-1")

    sent = openai.received[0]
    assert sent.headers["authorization"] == "Bearer sk-test-secret-123"
    assert sent.json() == {"model": "gpt-image-2.6-flare", "prompt": "a red fox", "n": 1, "size": "1024x1024", "quality": "low",
                           "safety_identifier": safety_identifier("app-1")}  # hashed: never the raw caller

    got = await client.get(result["images"][0]["url"])
    assert got.content == png
    # 50 text tokens at $5/1M + 272 image tokens at $30/1M (gpt-image-2.6-flare) = 250 + 8160 micro-dollars
    assert result["actual_cost_micros"] == 8_410
    # 272 low-quality output tokens + a bound on the prompt's tokens ((9 bytes + 100 overhead) at $5/1M)
    assert result["estimated_cost_micros"] == 8_160 + 545
    usage = await services.db.all("SELECT outcome, cost_micros, usage FROM usage_events WHERE request_id = ?", (result["id"],))
    assert [(u["outcome"], u["cost_micros"]) for u in usage] == [("succeeded", 8_410)]
    assert json.loads(usage[0]["usage"])["output_tokens"] == 272


async def test_provider_500_leaves_request_failed_without_images(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(500, {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "MAX_ATTEMPTS_PER_PROVIDER": "2"})
    client = client_for(services)

    response = await client.post("/v1/generations", json={"prompt": "a red fox"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "provider_unavailable" and error["provider"] == "openai"
    assert "sk-test" not in response.text
    request_id = error["details"]["request_id"]
    assert len(openai.received) == 2  # retried once, then gave up

    stored = (await client.get(f"/v1/generations/{request_id}")).json()
    assert stored["status"] == "failed"
    assert stored["error"]["code"] == "provider_unavailable"
    assert stored["images"] == [] and stored["actual_cost_micros"] == 0
    assert [a["outcome"] for a in stored["attempts"]] == ["failed", "failed"]
    assert await services.db.all("SELECT id FROM images") == []
    usage = await services.ledger.usage("2000-01-01", "2999-12-31")
    assert usage.budget["reserved_now_micros"] == 0


async def test_retry_then_success(make_services, client_for, fake_server):
    openai = fake_server()
    png = render_png(b"second time lucky", 1024, 1024)
    openai.sequence("POST", "/v1/images/generations", [
        Reply(429, {"error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}},
              headers={"Retry-After": "0"}),
        Reply(200, openai_success(png)),
    ])
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    result = (await client_for(services).post("/v1/generations", json={"prompt": "fox"})).json()
    assert result["status"] == "succeeded"
    assert [(a["outcome"], a["error_code"]) for a in result["attempts"]] == [
        ("failed", "provider_rate_limited"), ("succeeded", None)]


async def test_api_token_is_required_when_configured(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-123"}))
    missing = await client.post("/v1/generations", json={"prompt": "x"})
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = await client.get("/v1/generations/gen_x", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = await client.post("/v1/generations", json={"prompt": "x"}, headers={"Authorization": "Bearer tok-123"})
    assert ok.status_code == 201
    assert (await client.get("/v1/health")).status_code == 200


async def test_sse_stream_reports_progress_then_the_result(make_services, client_for):
    client = client_for(make_services())
    async with client.stream("POST", "/v1/generations?stream=true&partial_images=2", json={"prompt": "sse"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = (await response.aread()).decode()
    events = [json.loads(block.split("data: ", 1)[1]) | {"_type": block.split("\n", 1)[0][7:]}
              for block in body.strip().split("\n\n") if block.startswith("event:")]
    kinds = [e["_type"] for e in events]
    assert kinds == ["accepted", "attempt", "partial_image", "partial_image", "image", "completed"]
    assert events[-1]["result"]["status"] == "succeeded"
    assert base64.b64decode(events[2]["b64"]).startswith(b"\x89PNG")
    assert events[4]["image"]["id"] == events[-1]["result"]["images"][0]["id"]


async def test_a_worker_without_api_token_fails_closed_when_required(make_services, client_for):
    client = client_for(make_services({"REQUIRE_API_TOKEN": "true"}))
    response = await client.post("/v1/generations", json={"prompt": "x"})
    assert response.status_code == 401 and "API_TOKEN" in response.json()["error"]["message"]
    assert (await client.get("/v1/health")).status_code == 200


async def test_listing_pages_newest_first_by_caller(make_services, client_for):
    client = client_for(make_services())
    ids = [(await client.post("/v1/generations", json={"prompt": f"p{i}", "caller": "a" if i % 2 else "b"})).json()["id"]
           for i in range(5)]
    page = (await client.get("/v1/generations", params={"limit": 2})).json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2] and page["next_before"] == ids[3]
    rest = (await client.get("/v1/generations", params={"limit": 5, "before": page["next_before"]})).json()
    assert [i["id"] for i in rest["items"]] == ids[::-1][2:] and rest["next_before"] is None
    only_a = (await client.get("/v1/generations", params={"caller": "a"})).json()["items"]
    assert [i["id"] for i in only_a] == [ids[3], ids[1]]


async def test_a_malformed_provider_answer_fails_the_request_and_stores_nothing(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, {"created": 1, "data": [{"b64_json": "%%% not base64 %%%"}]}))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    response = await client_for(services).post("/v1/generations", json={"prompt": "x"})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "provider_bad_response" and "base64" in error["message"]
    row = await services.db.first("SELECT status, error_code FROM generation_requests WHERE id = ?", (error["details"]["request_id"],))
    assert row == {"status": "failed", "error_code": "provider_bad_response"}
    assert await services.db.all("SELECT id FROM images") == []
    assert list((services.objects.root).rglob("*.png")) == []


def test_only_known_settings_reach_the_providers(make_services):
    services = make_services({"OPENAI_API_KEY": "sk-x", "UNRELATED_SECRET": "do-not-pass", "PLACEHOLDER_ENABLED": "false"})
    provider_settings = services.registry.get("openai").ctx.settings
    assert "UNRELATED_SECRET" not in provider_settings and provider_settings["OPENAI_API_KEY"] == "sk-x"


async def test_the_openapi_document_describes_the_api(make_services, client_for):
    spec = (await client_for(make_services()).get("/openapi.json")).json()
    paths = spec["paths"]
    for path in ("/v1/generations", "/v1/generations/{request_id}", "/v1/images/{image_id}", "/v1/estimate",
                 "/v1/providers", "/v1/budget", "/v1/usage", "/v1/links", "/v1/entities/{entity_type}/{entity_id}/images"):
        assert path in paths, path
    request_schema = spec["components"]["schemas"]["GenerationRequest"]
    assert request_schema["additionalProperties"] is False and "prompt" in request_schema["required"]
