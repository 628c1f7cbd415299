"""The pipeline's promises: fallback by error type, refusals are final, every exit
leaves the row terminal, edits and entity links, the cron's crash recovery, RPC."""

from __future__ import annotations

import base64

import pytest

from pipeline import maintenance
from pipeline.api import rpc
from pipeline.models import GenerationRequest
from pipeline.generation.generation import Generation
from pipeline.generation.state import Admitted
from pipeline.providers import openai as openai_mod
from pipeline.providers.base import ProviderContext
from pipeline.providers.registry import FACTORIES, ProviderRegistry
from pipeline.providers.placeholder import render_png
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success

SERVER_ERROR = {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}


class BackupProvider(openai_mod.OpenAIProvider):
    """A second, independent OpenAI-compatible endpoint: a real adapter on real HTTP."""

    name = "backup"

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ProviderContext(ctx.http, ctx.clock, {**ctx.settings, "OPENAI_BASE_URL": ctx.settings["BACKUP_BASE_URL"]}, ctx.ai))


def with_backup(services):
    ctx = ProviderContext(services.http, services.clock, {**OPENAI_ENV, **services.extras["env"]})
    services.registry = ProviderRegistry(ctx, {"openai": openai_mod.build, "backup": BackupProvider})
    return services


@pytest.fixture
def two_providers(make_services, fake_server):
    primary, backup = fake_server(), fake_server()
    env = {**OPENAI_ENV, "OPENAI_BASE_URL": primary.url, "BACKUP_BASE_URL": backup.url,
           "AUTO_PROVIDER_ORDER": "openai,backup", "MAX_ATTEMPTS_PER_PROVIDER": "2"}
    services = make_services(env)
    services.extras["env"] = env
    return with_backup(services), primary, backup


async def test_auto_mode_falls_back_on_a_retryable_error(two_providers, client_for):
    services, primary, backup = two_providers
    primary.route("POST", "/v1/images/generations", Reply(503, SERVER_ERROR))
    backup.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"b", 64, 64))))
    response = await client_for(services).post("/v1/generations", json={"prompt": "fox"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["provider"] == "backup"
    assert [(a["provider"], a["outcome"]) for a in result["attempts"]] == [
        ("openai", "failed"), ("openai", "failed"), ("backup", "succeeded")]
    assert len(primary.received) == 2 and len(backup.received) == 1
    assert services.registry.health["openai"].consecutive_failures == 2


async def test_safety_refusal_is_final_and_never_falls_back(two_providers, client_for):
    services, primary, backup = two_providers
    primary.route("POST", "/v1/images/generations", Reply(400, {"error": {
        "message": "Your request was rejected by the safety system.", "type": "image_generation_user_error",
        "param": None, "code": "moderation_blocked"}}))
    response = await client_for(services).post("/v1/generations", json={"prompt": "something forbidden"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "provider_refused" and error["retryable"] is False
    assert len(primary.received) == 1 and backup.received == []
    row = await services.db.first("SELECT status, error_code FROM generation_requests WHERE id = ?", (error["details"]["request_id"],))
    assert row == {"status": "failed", "error_code": "provider_refused"}


async def test_explicit_provider_does_not_fall_back_unless_asked(two_providers, client_for):
    services, primary, backup = two_providers
    primary.route("POST", "/v1/images/generations", Reply(503, SERVER_ERROR))
    backup.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"b", 64, 64))))
    client = client_for(services)
    pinned = await client.post("/v1/generations", json={"prompt": "fox", "provider": "openai"})
    assert pinned.status_code == 503 and backup.received == []
    allowed = await client.post("/v1/generations", json={"prompt": "fox", "provider": "openai", "fallback": True})
    assert allowed.status_code == 201 and allowed.json()["provider"] == "backup"


async def test_unknown_or_unfit_provider_is_a_clear_422(make_services, client_for):
    client = client_for(make_services())
    unknown = await client.post("/v1/generations", json={"prompt": "x", "provider": "midjourney"})
    assert unknown.status_code == 422 and "not configured" in unknown.json()["error"]["message"]


async def test_edit_by_image_id_and_entity_links(make_services, client_for):
    services = make_services()
    client = client_for(services)
    first = (await client.post("/v1/generations", json={
        "prompt": "hero portrait", "links": [{"entity_type": "character", "entity_id": "c-7", "role": "portrait"}]})).json()
    image_id = first["images"][0]["id"]
    edit = await client.post("/v1/generations", json={
        "prompt": "same hero, in the rain", "images": [{"image_id": image_id}],
        "links": [{"entity_type": "scene", "entity_id": "s-1"}]})
    assert edit.status_code == 201, edit.text
    edited = edit.json()
    assert edited["kind"] == "edit" and edited["images"][0]["sha256"] != first["images"][0]["sha256"]

    linked = (await client.get("/v1/entities/character/c-7/images")).json()["images"]
    assert [(i["id"], i["role"]) for i in linked] == [(image_id, "portrait")]
    link = await client.post("/v1/links", json={"image_id": edited["images"][0]["id"], "entity_type": "character", "entity_id": "c-7"})
    assert link.status_code == 201 and link.json()["created"] is True
    again = await client.post("/v1/links", json={"image_id": edited["images"][0]["id"], "entity_type": "character", "entity_id": "c-7"})
    assert again.status_code == 200 and again.json()["created"] is False
    assert len((await client.get("/v1/entities/character/c-7/images")).json()["images"]) == 2
    assert (await client.post("/v1/links", json={"image_id": "img_missing", "entity_type": "scene", "entity_id": "s"})).status_code == 404
    gone = await client.request("DELETE", "/v1/links", json={"image_id": image_id, "entity_type": "character", "entity_id": "c-7", "role": "portrait"})
    assert gone.status_code == 200
    assert len((await client.get("/v1/entities/character/c-7/images")).json()["images"]) == 1

    missing = await client.post("/v1/generations", json={"prompt": "x", "images": [{"image_id": "img_nope"}]})
    assert missing.status_code == 404


async def test_inline_edit_input_must_be_an_image(make_services, client_for):
    client = client_for(make_services())
    bad = await client.post("/v1/generations", json={"prompt": "x", "images": [{"data_base64": base64.b64encode(b"hello").decode()}]})
    assert bad.status_code == 422 and "PNG, JPEG or WebP" in bad.json()["error"]["message"]
    png = base64.b64encode(render_png(b"src", 32, 32)).decode()
    ok = await client.post("/v1/generations", json={"prompt": "x", "images": [{"data_base64": png}]})
    assert ok.status_code == 201


async def test_a_cancelled_stream_leaves_the_row_terminal_and_the_money_free(make_services):
    services = make_services()
    generation = Generation(services, Admitted.new(services, GenerationRequest(prompt="going away")))
    events = generation.events()
    first = await events.__anext__()
    assert first.type == "accepted"
    await events.__anext__()  # the reservation is made before the first attempt
    await events.aclose()  # the caller disconnected
    row = await services.db.first("SELECT status, error_code FROM generation_requests WHERE id = ?", (generation.request_id,))
    assert row == {"status": "failed", "error_code": "cancelled"}
    usage = await services.ledger.usage("2000-01-01", "2999-12-31")
    assert usage.budget["reserved_now_micros"] == 0


async def test_cron_recovers_requests_whose_worker_died(make_services):
    services = make_services()
    await services.db.run(
        "INSERT INTO generation_requests (id, caller, kind, status, prompt, n, request_hash, created_at, updated_at)"
        " VALUES ('gen_dead', 'app', 'generate', 'running', 'p', 1, 'h', '2020-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z')"
    )
    report = await maintenance.scheduled(services, "*/5 * * * *")
    assert report["stale_requests"] == 1
    row = await services.db.first("SELECT status, error_code, completed_at FROM generation_requests WHERE id = 'gen_dead'")
    assert row["status"] == "failed" and row["error_code"] == "abandoned" and row["completed_at"]
    assert (await maintenance.scheduled(services))["stale_requests"] == 0


async def test_cron_rolls_usage_up_by_day(make_services, client_for):
    services = make_services()
    await client_for(services).post("/v1/generations", json={"prompt": "x", "n": 3})
    report = await maintenance.scheduled(services)
    today = max(report["rolled_up"])
    rows = await services.db.all("SELECT provider, attempts, succeeded, images FROM daily_usage WHERE day = ?", (today,))
    assert rows == [{"provider": "placeholder", "attempts": 1, "succeeded": 1, "images": 3}]


async def test_rpc_surface_uses_the_same_error_shape(make_services):
    services = make_services()
    ok = await rpc.call(services, "generate", {"prompt": "over a service binding"})
    assert ok["ok"] is True and ok["result"]["status"] == "succeeded"
    fetched = await rpc.call(services, "get_generation", ok["result"]["id"])
    assert fetched == {"ok": True, "result": ok["result"]}
    bad = await rpc.call(services, "generate", {"prompt": "", "n": 0})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_request"
    assert "prompt" in bad["error"]["message"] and "n" in bad["error"]["message"]
    assert (await rpc.call(services, "get_generation", "gen_missing"))["error"]["code"] == "not_found"
    assert (await rpc.call(services, "generate", "not a dict"))["error"]["code"] == "invalid_request"


async def test_estimate_lists_every_able_provider_and_the_auto_pick(make_services, client_for, fake_server):
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": fake_server().url, "PLACEHOLDER_ENABLED": "true"})
    client = client_for(services)
    body = (await client.post("/v1/estimate", json={"prompt": "x", "quality": "medium", "n": 2, "size": "1536x1024"})).json()
    by_name = {e["provider"]: e for e in body["estimates"]}
    # medium 1536x1024: 1584 output tokens x2 at $30/1M + (1 prompt byte + 100 overhead) tokens at $5/1M
    assert by_name["openai"]["cost_micros"] == 95_040 + 505 and by_name["openai"]["size"] == "1536x1024"
    assert by_name["placeholder"]["cost_micros"] == 0
    assert body["auto_pick"] == "openai"  # the placeholder never serves auto mode beside a real provider
    assert FACTORIES  # registry dispatch is by table, not by name checks

    providers = (await client.get("/v1/providers")).json()
    names = [p["name"] for p in providers["providers"]]
    assert "openai" in names and providers["price_unit"].startswith("micro-dollars")
    openai_entry = providers["providers"][names.index("openai")]
    assert openai_entry["prices"]["gpt-image-2.6-flare"]["rates"]["image_out"] == 30_000_000
    assert openai_entry["capabilities"]["mask"] is True and "3:2" in openai_entry["capabilities"]["aspect_ratios"]
    assert openai_entry["health"]["recent_calls"] == 0


async def test_idempotency_key_replays_instead_of_paying_twice(two_providers, client_for):
    services, primary, _backup = two_providers
    primary.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"once", 64, 64))))
    client = client_for(services)
    body = {"prompt": "exactly once", "caller": "app-1"}
    first = await client.post("/v1/generations", json=body, headers={"Idempotency-Key": "k-1"})
    second = await client.post("/v1/generations", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert len(primary.received) == 1  # the provider was paid once
    other = await client.post("/v1/generations", json={**body, "prompt": "something else"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["error"]["details"]["request_id"] == first.json()["id"]
    # keys are per caller
    assert (await client.post("/v1/generations", json={**body, "caller": "app-2"}, headers={"Idempotency-Key": "k-1"})).status_code == 201


async def test_idempotent_replay_of_a_failure_returns_the_same_error(two_providers, client_for):
    services, primary, backup = two_providers
    primary.route("POST", "/v1/images/generations", Reply(400, {"error": {
        "message": "Your request was rejected by the safety system.", "type": "image_generation_user_error",
        "param": None, "code": "moderation_blocked"}}))
    client = client_for(services)
    first = await client.post("/v1/generations", json={"prompt": "no"}, headers={"Idempotency-Key": "k-2"})
    again = await client.post("/v1/generations", json={"prompt": "no"}, headers={"Idempotency-Key": "k-2"})
    assert first.status_code == again.status_code == 422
    assert again.json()["error"]["code"] == "provider_refused"
    assert again.json()["error"]["details"]["request_id"] == first.json()["error"]["details"]["request_id"]
    assert len(primary.received) == 1


async def test_a_slow_provider_hits_the_request_deadline(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"late", 8, 8)), delay_s=3))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "REQUEST_TIMEOUT_S": "0.5"})
    response = await client_for(services).post("/v1/generations", json={"prompt": "slow"})
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "provider_timeout"
    row = await services.db.first("SELECT status, error_code FROM generation_requests WHERE id = ?", (error["details"]["request_id"],))
    assert row == {"status": "failed", "error_code": "provider_timeout"}


async def test_the_per_image_cap_steers_auto_mode_and_refuses_when_nothing_fits(make_services, client_for, fake_server):
    from local.workers_ai import FakeWorkersAI

    openai = fake_server()
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "AUTO_PROVIDER_ORDER": "openai,workers-ai"},
                             ai=FakeWorkersAI())
    client = client_for(services)
    # openai low 1024x1024 is ~$0.011; workers-ai ~$0.0007: a $0.005 cap leaves only workers-ai
    capped = await client.post("/v1/generations", json={"prompt": "cheap", "quality": "low", "max_cost_per_image_micros": 5_000})
    assert capped.status_code == 201 and capped.json()["provider"] == "workers-ai"
    assert openai.received == []
    refused = await client.post("/v1/generations", json={"prompt": "x", "provider": "openai", "max_cost_per_image_micros": 5_000})
    assert refused.status_code == 402 and refused.json()["error"]["details"]["reason"] == "request_cap"
    estimate = (await client.post("/v1/estimate", json={"prompt": "x", "max_cost_per_image_micros": 5_000})).json()
    assert estimate["auto_pick"] == "workers-ai"


class FlakyLedger:
    """The real ledger behind an RPC boundary that drops the first settle calls."""

    def __init__(self, inner, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def settle(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("rpc dropped")
        return await self.inner.settle(*args, **kwargs)


async def test_a_dropped_settle_is_retried_so_spend_is_never_lost(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"s", 8, 8))))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    services.ledger = FlakyLedger(services.ledger, failures=2)
    response = await client_for(services).post("/v1/generations", json={"prompt": "pay once"})
    assert response.status_code == 201
    status = (await services.ledger.usage("2000-01-01", "2999-12-31")).budget
    assert status["spent_today_micros"] == 8_410 and status["reserved_now_micros"] == 0


async def test_logs_are_json_lines_without_secrets_or_prompts(make_services, client_for, fake_server, caplog):
    import json as _json
    import logging

    openai = fake_server()
    openai.sequence("POST", "/v1/images/generations", [Reply(500, SERVER_ERROR), Reply(200, openai_success(render_png(b"l", 8, 8)))])
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    with caplog.at_level(logging.INFO, logger="image_worker"):
        await client_for(services).post("/v1/generations", json={"prompt": "my secret plot twist"})
    lines = [_json.loads(r.getMessage()) for r in caplog.records if r.name == "image_worker"]
    assert [line["event"] for line in lines] == ["attempt_failed", "generation_succeeded"]
    assert lines[0]["code"] == "provider_unavailable" and lines[1]["cost_micros"] == 8_410
    text = caplog.text
    assert "sk-test-secret-123" not in text and "plot twist" not in text


async def test_the_cron_charges_spend_whose_settle_never_landed(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"lost", 8, 8))))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    real = services.ledger
    services.ledger = FlakyLedger(real, failures=3)  # every settle attempt is lost
    assert (await client_for(services).post("/v1/generations", json={"prompt": "lost settle"})).status_code == 201
    services.ledger = real
    assert (await real.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"] == 0
    report = await maintenance.scheduled(services)
    assert report["reconciled"] == 1
    assert (await real.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"] == 8_410
    assert (await maintenance.scheduled(services))["reconciled"] == 0  # idempotent
