"""Keys per caller: created, listed and revoked by an admin; the caller comes from the key."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from tests.clocks import clock_at
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success
from pipeline.providers.placeholder import render_png

ADMIN = {"Authorization": "Bearer tok-admin"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_key(client, **body) -> dict:
    response = await client.post("/v1/keys", json={"name": "web", "caller": "alice", **body}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_key_is_shown_once_stored_hashed_and_acts_as_its_caller(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin"})
    client = client_for(services)
    created = await make_key(client)
    secret = created["key"]
    assert secret.startswith("iwk_") and created["scopes"] == ["generate", "read"] and created["caller"] == "alice"

    stored = await services.db.all("SELECT * FROM api_keys")
    assert len(stored) == 1 and secret not in json.dumps(stored)
    assert stored[0]["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    listed = (await client.get("/v1/keys", headers=ADMIN)).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0] and secret not in json.dumps(listed)

    made = await client.post("/v1/generations", json={"prompt": "a fox"}, headers=bearer(secret))
    assert made.status_code == 201 and made.json()["caller"] == "alice"
    # the body cannot pick another caller: 'alice-2' is refused like anyone else
    other = await client.post("/v1/generations", json={"prompt": "a fox", "caller": "alice-2"}, headers=bearer(secret))
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    same = await client.post("/v1/generations", json={"prompt": "a fox", "caller": "alice"}, headers=bearer(secret))
    assert same.status_code == 201
    # the admin token (the old API_TOKEN) may act for any caller
    for_bob = await client.post("/v1/generations", json={"prompt": "a fox", "caller": "bob"}, headers=ADMIN)
    assert for_bob.json()["caller"] == "bob"
    # a caller key sees only its caller's generations
    assert (await client.get(f"/v1/generations/{for_bob.json()['id']}", headers=bearer(secret))).status_code == 404
    mine = (await client.get("/v1/generations", headers=bearer(secret))).json()["items"]
    assert {g["caller"] for g in mine} == {"alice"} and len(mine) == 2
    assert (await client.get("/v1/generations?caller=bob", headers=bearer(secret))).status_code == 403


async def test_scopes_guard_money_and_keys(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    reader = (await make_key(client, scopes=["read"]))["key"]
    generator = (await make_key(client, scopes=["generate", "read"]))["key"]
    admin_key = (await make_key(client, name="ops", caller="ops", scopes=["admin"]))["key"]

    for key in (reader, generator):
        assert (await client.put("/v1/budget", json={"daily_budget_micros": 1}, headers=bearer(key))).status_code == 403
        assert (await client.post("/v1/keys", json={"name": "x", "caller": "x"}, headers=bearer(key))).status_code == 403
        assert (await client.get("/v1/keys", headers=bearer(key))).status_code == 403
        assert (await client.get("/v1/budget", headers=bearer(key))).status_code == 200
    refused = await client.post("/v1/generations", json={"prompt": "x"}, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json()["error"]["details"]["required_scope"] == "generate"
    assert (await client.put("/v1/budget", json={"daily_budget_micros": 5}, headers=bearer(admin_key))).status_code == 200
    assert (await client.get("/v1/keys", headers=bearer(admin_key))).status_code == 200


async def test_revoked_and_expired_keys_stop_working_and_rotation_overlaps(make_services, client_for):
    clock = clock_at()
    client = client_for(make_services({"API_TOKEN": "tok-admin"}, clock=clock))
    old = await make_key(client)
    new = await make_key(client)  # rotation: both live at once
    short = await make_key(client, expires_at=(clock.now() + timedelta(days=30)).isoformat())
    for key in (old, new, short):
        assert (await client.get("/v1/generations", headers=bearer(key["key"]))).status_code == 200

    revoked = await client.delete(f"/v1/keys/{old['id']}", headers=ADMIN)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    gone = await client.get("/v1/generations", headers=bearer(old["key"]))
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthorized"
    assert (await client.get("/v1/generations", headers=bearer(new["key"]))).status_code == 200
    assert [k["id"] for k in (await client.get("/v1/keys", headers=ADMIN)).json()["items"]] == [short["id"], new["id"]]

    clock.advance(31 * 86400)
    assert (await client.get("/v1/generations", headers=bearer(short["key"]))).status_code == 401
    past = await client.post("/v1/keys", json={"name": "x", "caller": "x", "expires_at": "2020-01-01T00:00:00Z"}, headers=ADMIN)
    assert past.status_code == 422


async def test_key_validation_is_strict(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    for body in ({"name": " ", "caller": "a"}, {"name": "a", "caller": "a", "scopes": ["root"]},
                 {"name": "a", "caller": "a", "daily_budget_micros": True}, {"name": "a", "caller": "a", "daily_budget_micros": "5"},
                 {"name": "a", "caller": "a", "daily_budget_micros": 2**53}, {"name": "a", "caller": "a", "expires_at": "2027-02-30T00:00:00Z"},
                 {"name": "a", "caller": "a b"}):
        response = await client.post("/v1/keys", json=body, headers=ADMIN)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


async def test_a_key_budget_is_enforced_before_any_provider_is_called(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"o", 1024, 1024))))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "API_TOKEN": "tok-admin"})
    client = client_for(services)
    poor = (await make_key(client, daily_budget_micros=5_000))["key"]  # below one low 1024² image (~8_500)
    refused = await client.post("/v1/generations", json={"prompt": "a fox", "quality": "low"}, headers=bearer(poor))
    assert refused.status_code == 402, refused.text
    assert openai.received == []
    rich = await make_key(client, daily_budget_micros=15_000)
    ok = await client.post("/v1/generations", json={"prompt": "a fox", "quality": "low"}, headers=bearer(rich["key"]))
    assert ok.status_code == 201, ok.text
    spent = ok.json()["actual_cost_micros"]
    assert spent == 8_410  # 50 text in at $5/1M + 272 image out at $30/1M (gpt-image-2.6-flare)
    # what is left (6_590) buys no second image (estimate ~8_490)
    again = await client.post("/v1/generations", json={"prompt": "a fox", "quality": "low"}, headers=bearer(rich["key"]))
    assert again.status_code == 402 and len(openai.received) == 1
    row = await services.db.first("SELECT api_key_id FROM generation_requests WHERE id = ?", (ok.json()["id"],))
    assert row["api_key_id"] == rich["id"]


async def test_the_key_is_checked_before_the_body_is_read(make_services):
    from pipeline.api.app import create_app

    app = create_app(make_services({"API_TOKEN": "tok-admin"}))
    read: list[bool] = []
    sent: list[dict] = []

    async def receive() -> dict:
        read.append(True)
        return {"type": "http.request", "body": b"x" * 10_000_000, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/generations", "raw_path": b"/v1/generations",
             "query_string": b"", "headers": [(b"content-type", b"application/json"), (b"content-length", b"10000000")],
             "http_version": "1.1", "scheme": "http", "server": ("w", 80), "client": ("c", 1), "root_path": ""}
    await app(scope, receive, send)
    assert read == [] and sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["error"]["code"] == "unauthorized"
