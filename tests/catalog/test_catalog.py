"""The catalog as the one source of models and prices, end to end over HTTP:
lifecycle (statuses on the UTC date, shut-down models refused naming their
replacement, never chosen by auto mode), `GET /v1/providers`, run-time price
overrides (admin, recorded), provider instances with their own key and fallback."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pipeline import catalog
from pipeline.providers.placeholder import render_png
from tests.clocks import TODAY, ShiftedClock
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success

SRC = Path(__file__).resolve().parents[2] / "src" / "pipeline"
PNG = render_png(b"catalog", 64, 64)
GENERATIONS = "/v1/images/generations"


def test_every_model_has_status_capabilities_and_a_sourced_dated_price():
    for kind, cat in catalog.CATALOGS.items():
        assert cat.defaults["cost"] in cat.ids() and cat.defaults["quality"] in cat.ids()
        for m in cat.models:
            assert m.provider in (kind, "gemini") and m.lifecycle.status in ("active", "deprecated", "shut_down")
            assert m.price.source and re.match(r"^\d{4}-\d{2}-\d{2}$", m.price.checked), m.id
            assert all(isinstance(v, int) for v in m.price.rates.values()), m.id  # micro-dollars, never floats
            if m.lifecycle.status != "active":
                assert m.lifecycle.shutdown and m.lifecycle.replacement in cat.ids(), m.id
            assert m.sizes.fixed and m.images_per_call >= 1



def test_defaults_never_resolve_to_a_shut_down_model_on_any_date():
    """On the suite's date, every shutdown date, the days around it and far ahead, each tier's
    default is a usable model: once the named default is gone, its replacement chain decides."""
    dates = {TODAY, date(2027, 12, 31), date(2030, 1, 1)}
    for cat in catalog.CATALOGS.values():
        for m in cat.models:
            if m.lifecycle.shutdown:
                day = date.fromisoformat(m.lifecycle.shutdown)
                dates |= {day - timedelta(days=1), day, day + timedelta(days=1)}
    for kind, cat in catalog.CATALOGS.items():
        for day in sorted(dates):
            for tier in cat.defaults:
                chosen = catalog.default_model(cat, day, tier)
                assert chosen is not None and cat.get(chosen).status_on(day) != "shut_down", (kind, tier, day)


def test_a_retired_default_is_followed_by_its_replacement():
    gone = catalog.Lifecycle("deprecated", "2027-03-01", "m-next")
    spec = catalog.CATALOGS["openai"].models[0]
    models = tuple(replace(spec, id=i, lifecycle=life) for i, life in
                   (("m-first", catalog.Lifecycle()), ("m-old", gone), ("m-next", catalog.Lifecycle())))
    cat = catalog.ProviderCatalog("t", models, {"cost": "m-old"})
    assert catalog.default_model(cat, date(2027, 2, 28)) == "m-old"
    assert catalog.default_model(cat, date(2027, 3, 1)) == "m-next"  # not "m-first", the first usable one
    assert catalog.default_model(cat, date(2027, 3, 1), skip=frozenset({"m-next"})) == "m-first"


def test_nothing_outside_the_catalog_names_a_model_or_a_price():
    """No string constant in the code outside catalog/ is a model id (comments and examples aside)."""
    import ast

    model_id = re.compile(r"(gpt-image-[\w.-]+|chatgpt-image-\w+|gemini-[\w.-]*image[\w.-]*|imagen-[\w.-]+|dall-e-\d|@cf/[\w./-]+)")
    offenders = []
    for path in SRC.rglob("*.py"):
        if "catalog" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and model_id.fullmatch(node.value):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value}")
    assert offenders == []


async def test_statuses_follow_the_utc_date_and_auto_mode_never_picks_a_shut_down_model(make_services, client_for, fake_server):
    server = fake_server()
    server.route("POST", GENERATIONS, Reply(200, openai_success(PNG)))
    clock = ShiftedClock(datetime(2026, 12, 2, 12, tzinfo=timezone.utc))  # the day after 1.5 and mini shut down
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": server.url}, clock=clock)
    client = client_for(services)
    body = (await client.get("/v1/providers")).json()
    models = {m["id"]: m for m in body["providers"][0]["models"]}
    assert models["gpt-image-1.5"]["status"] == "shut_down" and models["gpt-image-1.5"]["shutdown_date"] == "2026-12-01"
    assert models["gpt-image-1"]["status"] == "shut_down" and models["gpt-image-2.6-flare"]["status"] == "active"
    assert models["gpt-image-2.6-flare"]["default"] is True and models["gpt-image-2.6-flare"]["price"]["checked"] == "2026-11-25"

    refused = await client.post("/v1/generations", json={"prompt": "x", "model": "gpt-image-1.5"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "model_unavailable"
    assert "use gpt-image-2.6-sunburst instead" in refused.json()["error"]["message"] and not server.received
    ok = await client.post("/v1/generations", json={"prompt": "x"})
    assert ok.status_code == 201 and ok.json()["model"] == "gpt-image-2.6-flare"

    clock.offset_s -= 9 * 86400  # 2026-11-23: 1.5 is deprecated, still usable until its date
    body = (await client.get("/v1/providers")).json()
    early = {m["id"]: m for m in body["providers"][0]["models"]}["gpt-image-1.5"]
    assert early["status"] == "deprecated" and early["replacement"] == "gpt-image-2.6-sunburst"


async def test_a_price_override_applies_at_once_and_is_recorded(make_services, client_for, fake_server):
    server = fake_server()
    server.route("POST", GENERATIONS, Reply(200, openai_success(PNG)))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": server.url, "API_TOKEN": "admin-token"})
    client = client_for(services)
    auth = {"authorization": "Bearer admin-token"}
    change = {"rates": {"image_out": 15_000_000}, "reason": "provider halved the image output rate", "set_by": "ops@example"}
    assert (await client.put("/v1/prices/gpt-image-2.6-flare", json=change)).status_code == 401
    put = await client.put("/v1/prices/gpt-image-2.6-flare", json=change, headers=auth)
    assert put.status_code == 200 and put.json()["price"]["rates"]["image_out"] == 15_000_000
    assert put.json()["catalog_price"]["rates"]["image_out"] == 30_000_000

    result = (await client.post("/v1/generations", json={"prompt": "x", "quality": "low"}, headers=auth)).json()
    assert result["actual_cost_micros"] == 250 + 272 * 15  # 50 text in at $5/1M + 272 image out at the new $15/1M

    listed = {p["model"]: p for p in (await client.get("/v1/prices", headers=auth)).json()["prices"]}
    assert "ops@example" in listed["gpt-image-2.6-flare"]["price"]["source"]
    assert listed["@cf/leonardo/lucid-origin"]["price"]["confidence"] == "unverified"
    bad = await client.put("/v1/prices/gpt-image-2.6-flare", json={"rates": {"per_image": 1}, "reason": "typo"}, headers=auth)
    assert bad.status_code == 422 and "image_out" in bad.json()["error"]["message"]
    assert (await client.put("/v1/prices/no-such-model", json=change, headers=auth)).status_code == 404
    reset = await client.request("DELETE", "/v1/prices/gpt-image-2.6-flare", json={"reason": "back to list"}, headers=auth)
    assert reset.json()["price"]["rates"]["image_out"] == 30_000_000
    history = (await client.get("/v1/prices/history?model=gpt-image-2.6-flare", headers=auth)).json()["history"]
    assert [h["rates"] for h in history] == [None, {"image_out": 15_000_000}]
    assert history[1]["reason"] == "provider halved the image output rate" and history[1]["set_by"] == "ops@example"
    rows = await services.db.all("SELECT COUNT(*) AS n FROM price_overrides")
    assert rows[0]["n"] == 2


async def test_two_instances_of_one_provider_fall_back_and_keep_their_own_health(make_services, client_for, fake_server):
    primary, second = fake_server(), fake_server()
    primary.route("POST", GENERATIONS, Reply(429, load("openai", "insufficient_quota")))
    second.route("POST", GENERATIONS, Reply(200, openai_success(PNG)))
    instances = [{"name": "openai-b", "kind": "openai", "key_secret": "OPENAI_B_API_KEY", "base_url": second.url,
                  "priority": 5, "tier": "quality"}]
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": primary.url, "OPENAI_B_API_KEY": "sk-second-project",
                              "PROVIDER_INSTANCES": json.dumps(instances), "AUTO_PROVIDER_ORDER": "openai"})
    client = client_for(services)
    result = (await client.post("/v1/generations", json={"prompt": "x"})).json()
    assert result["status"] == "succeeded" and result["provider"] == "openai-b" and result["model"] == "gpt-image-2.6-sunburst"
    assert len(primary.received) == 1  # a quota error is not retried on the same instance
    assert second.received[0].headers["authorization"] == "Bearer sk-second-project"
    view = {p["name"]: p for p in (await client.get("/v1/providers")).json()["providers"]}
    assert view["openai"]["health"]["last_error"] == "provider_quota_exhausted" and view["openai-b"]["health"]["error_rate"] == 0
    assert view["openai-b"]["kind"] == "openai" and "sk-second" not in json.dumps(view)


async def test_a_model_the_provider_says_is_gone_falls_back_and_shows_as_unavailable(make_services, client_for, fake_server):
    primary, second = fake_server(), fake_server()
    primary.route("POST", GENERATIONS, Reply(404, load("openai", "model_not_found")))
    second.route("POST", GENERATIONS, Reply(200, openai_success(PNG)))
    instances = [{"name": "openai-b", "kind": "openai", "key_secret": "OPENAI_B_API_KEY", "base_url": second.url}]
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": primary.url, "OPENAI_B_API_KEY": "sk-b",
                              "PROVIDER_INSTANCES": json.dumps(instances)})
    client = client_for(services)
    result = (await client.post("/v1/generations", json={"prompt": "x"})).json()
    assert result["status"] == "succeeded" and result["provider"] == "openai-b"
    assert [a["error_code"] for a in result["attempts"] if a["outcome"] != "succeeded"] == ["model_unavailable"]
    models = {m["id"]: m for m in {p["name"]: p for p in (await client.get("/v1/providers")).json()["providers"]}["openai"]["models"]}
    assert models["gpt-image-2.6-flare"]["unavailable"]["code"] == "model_unavailable"
    assert models["gpt-image-2.6-flare"]["default"] is False and models["gpt-image-2.6-sunburst"]["default"] is True


def test_docs_providers_page_is_generated_from_the_catalog():
    from pipeline.catalog import docs

    page = (SRC.parent.parent / "docs" / "providers.md").read_text()
    assert page == docs.render(), "docs/providers.md is stale: PYTHONPATH=src python -m pipeline.catalog.docs > docs/providers.md"
