"""`/v1/budget` and `/v1/usage` over HTTP: token-guarded, validated, effective at once."""

from __future__ import annotations

AUTH = {"Authorization": "Bearer admin-token"}


async def test_budget_changes_take_effect_immediately(make_services, client_for):
    services = make_services({"API_TOKEN": "admin-token"})
    client = client_for(services)
    assert (await client.get("/v1/budget")).status_code == 401
    assert (await client.put("/v1/budget", json={"daily_budget_micros": 0})).status_code == 401

    current = (await client.get("/v1/budget", headers=AUTH)).json()
    assert current["config"]["daily_budget_micros"] == 10_000_000
    changed = await client.put("/v1/budget", headers=AUTH, json={"max_cost_per_image_micros": 0})
    assert changed.status_code == 200 and changed.json()["config"]["max_cost_per_image_micros"] == 0

    # the placeholder is free, so a zero cap still admits it; a zero budget too
    ok = await client.post("/v1/generations", headers=AUTH, json={"prompt": "free"})
    assert ok.status_code == 201
    await client.put("/v1/budget", headers=AUTH, json={"max_cost_per_image_micros": None})
    assert (await client.get("/v1/budget", headers=AUTH)).json()["config"]["max_cost_per_image_micros"] is None


async def test_budget_validation_names_the_field(make_services, client_for):
    client = client_for(make_services())
    for body, field in (({"daily_budget_micros": -5}, "daily_budget_micros"), ({"global_concurrency": 0}, "global_concurrency"),
                        ({"surprise": 1}, "surprise"), ({"provider_concurrency": {"openai": 0}}, "provider_concurrency")):
        response = await client.put("/v1/budget", json=body)
        assert response.status_code == 422, body
        assert field in response.json()["error"]["message"]
    assert (await client.put("/v1/budget", json={})).status_code == 422


async def test_usage_reports_per_day_and_provider(make_services, client_for):
    services = make_services()
    client = client_for(services)
    await client.post("/v1/generations", json={"prompt": "a", "n": 2})
    await client.put("/v1/budget", json={"daily_budget_micros": 0, "max_cost_per_image_micros": None})
    await client.post("/v1/generations", json={"prompt": "b"})  # free: still fits a zero budget
    usage = (await client.get("/v1/usage")).json()
    day = usage["days"][-1]
    entry = day["providers"][0]
    assert (entry["provider"], entry["requests"], entry["images"], entry["spent_micros"]) == ("placeholder", 2, 3, 0)
    assert usage["budget"]["daily_budget_micros"] == 0
    from pipeline import maintenance

    await maintenance.scheduled(services)
    recorded = (await client.get("/v1/usage")).json()["recorded"]
    assert [(r["provider"], r["attempts"], r["succeeded"], r["images"]) for r in recorded] == [("placeholder", 2, 2, 3)]
    assert (await client.get("/v1/usage", params={"from": "yesterday"})).status_code == 422
    assert (await client.get("/v1/usage", params={"from": "2026-12-02", "to": "2026-12-01"})).status_code == 422
