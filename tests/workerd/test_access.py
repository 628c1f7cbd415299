"""Keys per caller, CORS, signed image URLs, HEAD, listing and deletion, in real workerd."""

from __future__ import annotations

import httpx

from tests.workerd.conftest import AUTH

ORIGIN = "https://app.example.com"


def test_keys_act_as_their_caller_and_revocation_is_immediate(http: httpx.Client, worker):
    made = http.post("/v1/keys", json={"name": "frontend", "caller": "alice", "scopes": ["generate", "read"]})
    assert made.status_code == 201, made.text
    key = made.json()
    as_alice = {"Authorization": f"Bearer {key['key']}"}
    with httpx.Client(base_url=worker.url, timeout=60) as anon:
        result = anon.post("/v1/generations", json={"prompt": "a lighthouse", "provider": "placeholder"}, headers=as_alice)
        assert result.status_code == 201, result.text
        assert result.json()["caller"] == "alice"
        other = anon.post("/v1/generations", json={"prompt": "x", "provider": "placeholder", "caller": "bob"}, headers=as_alice)
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
        assert anon.put("/v1/budget", json={"daily_budget_micros": 1}, headers=as_alice).status_code == 403
        assert http.delete(f"/v1/keys/{key['id']}").status_code == 200
        gone = anon.get("/v1/generations", headers=as_alice)
        assert gone.status_code == 401 and gone.json()["error"]["code"] == "unauthorized"
        missing = anon.post("/v1/generations", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
        assert missing.status_code == 401


def test_cors_preflight_signed_urls_head_listing_and_delete(http: httpx.Client, worker):
    with httpx.Client(base_url=worker.url, timeout=60) as anon:
        preflight = anon.options("/v1/generations", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == ORIGIN
        result = http.post("/v1/generations", json={"prompt": "a lighthouse", "provider": "placeholder", "caller": "carol",
                                                    "links": [{"entity_type": "scene", "entity_id": "wd-1"}]},
                           headers={"Origin": ORIGIN}).json()
        image = result["images"][0]
        signed = http.get(f"/v1/images/{image['id']}/signed-url").json()["url"]
        got = anon.get(signed)
        assert got.status_code == 200 and got.content.startswith(b"\x89PNG")
        head = anon.head(image["url"])
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == got.headers["etag"]
        assert anon.get(image["url"], headers={"If-None-Match": "*"}).status_code == 304

    listed = http.get("/v1/generations", params={"caller": "carol", "entity_type": "scene", "entity_id": "wd-1"}).json()
    assert [g["id"] for g in listed["items"]] == [result["id"]]
    deleted = http.delete(f"/v1/generations/{result['id']}")
    assert deleted.status_code == 200 and deleted.json()["images"] == [image["id"]]
    assert http.get(image["url"]).status_code == 404
    assert http.get(f"/v1/generations/{result['id']}").status_code == 404
