"""CORS, signed image URLs, HEAD, conditional GETs, filtered listing, deletion, request logs."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs, urlparse

from local.db import SqliteDatabase
from pipeline.storage.listing import Filters, list_query
from tests.clocks import clock_at

ADMIN = {"Authorization": "Bearer tok-admin"}
ORIGIN = "https://app.example.com"


async def generate(client, headers=ADMIN, **body) -> dict:
    response = await client.post("/v1/generations", json={"prompt": "a lighthouse", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_cors_for_configured_origins_only(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "CORS_ORIGINS": f"{ORIGIN}, https://other.example"}))
    preflight = await client.options("/v1/generations", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"]
    assert "POST" in preflight.headers["access-control-allow-methods"]

    stranger = await client.options("/v1/generations", headers={"Origin": "https://evil.example",
                                                                  "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in stranger.headers

    ok = await client.get("/v1/health", headers={"Origin": ORIGIN})
    assert ok.headers["access-control-allow-origin"] == ORIGIN and "etag" in ok.headers["access-control-expose-headers"]
    denied = await client.post("/v1/generations", json={"prompt": "x"}, headers={"Origin": ORIGIN})
    # the browser can read the error, because it carries the CORS headers too
    assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == ORIGIN
    plain = await client.get("/v1/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in plain.headers


async def test_signed_image_urls_when_images_are_not_public(make_services, client_for):
    clock = clock_at()
    services = make_services({"API_TOKEN": "tok-admin", "PUBLIC_IMAGES": "false", "SIGNED_URL_TTL_S": "60"}, clock=clock)
    client = client_for(services)
    image = (await generate(client))["images"][0]

    assert (await client.get(image["url"])).status_code == 401
    with_key = await client.get(image["url"], headers=ADMIN)
    assert with_key.status_code == 200 and with_key.headers["cache-control"].startswith("private")

    signed = await client.get(f"/v1/images/{image['id']}/signed-url", headers=ADMIN)
    assert signed.status_code == 200
    url = signed.json()["url"]
    got = await client.get(url)  # no key: what an <img src> does
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content.startswith(b"\x89PNG") and len(got.content) == image["byte_size"]

    query = parse_qs(urlparse(url).query)
    forged = url.replace(query["expires"][0], str(int(query["expires"][0]) + 3600))
    assert (await client.get(forged)).status_code == 401
    other = (await generate(client))["images"][0]
    assert (await client.get(url.replace(image["id"], other["id"]))).status_code == 401
    clock.advance(61)
    expired = await client.get(url)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "unauthorized"


async def test_deleted_images_are_not_served_and_deletion_says_what_it_removed(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin"})
    client = client_for(services)
    result = await generate(client, n=2, links=[{"entity_type": "character", "entity_id": "ada"}])
    urls = [i["url"] for i in result["images"]]
    assert [(await client.get(u)).status_code for u in urls] == [200, 200]

    deleted = await client.delete(f"/v1/generations/{result['id']}", headers=ADMIN)
    assert deleted.status_code == 200, deleted.text
    body = deleted.json()
    assert body["deleted"] is True and body["images"] == [i["id"] for i in result["images"]]
    assert body["entity_links"] == 2 and body["usage_events"] == 1 and len(body["objects"]) == 2
    for key in body["objects"]:
        assert await services.objects.get(key) is None
    for table, column in (("generation_requests", "id"), ("images", "request_id"), ("usage_events", "request_id")):
        assert await services.db.all(f"SELECT 1 FROM {table} WHERE {column} = ?", (result["id"],)) == []
    assert [(await client.get(u)).status_code for u in urls] == [404, 404]
    again = await client.delete(f"/v1/generations/{result['id']}", headers=ADMIN)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


async def test_head_works_where_get_does_and_if_none_match_handles_star_and_weak_tags(make_services, client_for):
    client = client_for(make_services())
    image = (await generate(client, headers={}))["images"][0]
    get = await client.get(image["url"])
    head = await client.head(image["url"])
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"] and head.headers["content-length"] == str(len(get.content))
    assert (await client.head("/v1/health")).status_code == 200
    assert (await client.head("/v1/nowhere")).status_code == 404
    etag = get.headers["etag"]
    for header in (etag, "*", f"W/{etag}", f'"other", {etag}'):
        assert (await client.get(image["url"], headers={"If-None-Match": header})).status_code == 304, header
    assert (await client.get(image["url"], headers={"If-None-Match": '"other"'})).status_code == 200


async def test_listing_filters_and_pages(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    a1 = await generate(client, caller="alice", links=[{"entity_type": "scene", "entity_id": "s1"}])
    b1 = await generate(client, caller="bob")
    a2 = await generate(client, caller="alice")
    failed = await client.post("/v1/generations", json={"prompt": "x", "provider": "openai"}, headers=ADMIN)
    assert failed.status_code >= 400

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/v1/generations?{query}", headers=ADMIN)
        assert response.status_code == 200, response.text
        return [g["id"] for g in response.json()["items"]]

    assert await ids("caller=alice") == [a2["id"], a1["id"]]
    assert await ids("status=succeeded&caller=bob") == [b1["id"]]
    assert await ids("provider=placeholder") == [a2["id"], b1["id"], a1["id"]]
    assert await ids("entity_type=scene&entity_id=s1") == [a1["id"]]
    today = a1["created_at"][:10]
    assert await ids(f"from={today}&to={today}&status=succeeded") == [a2["id"], b1["id"], a1["id"]]
    assert await ids("from=2001-01-01&to=2001-01-02") == []

    page1 = (await client.get("/v1/generations?status=succeeded&limit=2", headers=ADMIN)).json()
    assert [g["id"] for g in page1["items"]] == [a2["id"], b1["id"]] and page1["next_before"] == b1["id"]
    page2 = (await client.get(f"/v1/generations?status=succeeded&limit=2&before={page1['next_before']}", headers=ADMIN)).json()
    assert [g["id"] for g in page2["items"]] == [a1["id"]] and page2["next_before"] is None

    for bad in ("from=2026-02-30", "to=2026-13-01", "from=yesterday", "limit=0", "limit=1.5", "status=done",
                "entity_type=scene", "before=gen_nope", "from=2026-03-02&to=2026-03-01"):
        response = await client.get(f"/v1/generations?{bad}", headers=ADMIN)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "invalid_request"


def test_every_listing_filter_is_served_by_an_index(tmp_path):
    db = SqliteDatabase(tmp_path / "plan.db")
    db.apply_migrations()
    from datetime import date

    cases = [
        Filters(), Filters(caller="a"), Filters(status="failed"), Filters(provider="openai"),
        Filters(entity_type="scene", entity_id="s1"), Filters(day_from=date(2026, 1, 1), day_to=date(2026, 1, 31)),
        Filters(caller="a", status="succeeded", day_from=date(2026, 1, 1)),
    ]
    for filters in cases:
        sql, params = list_query(filters, "gen_01JZZZZZZZZZZZZZZZZZZZZZZZ", 21)
        plan = [row[3] for row in db._conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        touching = [step for step in plan if "generation_requests" in step]
        assert touching and all("USING" in step and "INDEX" in step for step in touching), (filters, plan)
        assert not any("TEMP B-TREE" in step for step in plan), (filters, plan)  # no sort: the index is in id order


async def test_one_log_line_per_request_without_prompts_or_keys(make_services, client_for, caplog):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "LOG_LEVEL": "INFO"}))
    caplog.set_level(logging.INFO, logger="image_worker.access")
    result = await generate(client, prompt="a secret lighthouse")
    await client.get(f"/v1/generations/{result['id']}", headers=ADMIN)
    await client.get("/v1/nowhere")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "image_worker.access"]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("POST", "/v1/generations", 201), ("GET", "/v1/generations/{request_id}", 200), ("GET", "(unmatched)", 404)]
    assert all(line["caller"] == "default" for line in lines[:2]) and all(line["duration_ms"] >= 0 for line in lines)
    assert all(line["request_id"].startswith("req_") for line in lines)
    text = caplog.text
    assert "secret lighthouse" not in text and "tok-admin" not in text


async def test_the_log_level_is_configurable(make_services, client_for, caplog):
    client = client_for(make_services({"LOG_LEVEL": "WARNING"}))
    caplog.set_level(logging.DEBUG, logger="image_worker.access")
    await client.get("/v1/health")
    await client.get("/v1/generations/gen_nope")
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "image_worker.access"]
    assert [(line["route"], line["status"]) for line in logged] == [("/v1/generations/{request_id}", 404)]
