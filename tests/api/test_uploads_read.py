"""An upload is read back by its caller (or an admin) only."""

from __future__ import annotations

from pipeline.providers.placeholder import render_png

ADMIN = {"Authorization": "Bearer tok-admin"}


async def test_an_upload_is_private_to_its_caller(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "PLACEHOLDER_ENABLED": "true"}))
    keys = {}
    for caller in ("alice", "bob"):
        made = await client.post("/v1/keys", json={"name": caller, "caller": caller}, headers=ADMIN)
        keys[caller] = {"Authorization": f"Bearer {made.json()['key']}"}
    png = render_png(b"alice", 32, 32)
    created = await client.post("/v1/uploads", content=png, headers={**keys["alice"], "content-type": "image/png"})
    assert created.status_code == 201 and created.json()["caller"] == "alice"
    where = created.headers["location"]
    assert (await client.get(where, headers=keys["alice"])).status_code == 200
    assert (await client.get(where + "/content", headers=keys["alice"])).content == png
    for path in (where, where + "/content"):
        hidden = await client.get(path, headers=keys["bob"])
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    assert (await client.get(where, headers=ADMIN)).json()["sha256"] == created.json()["sha256"]
    assert (await client.get("/v1/uploads/upl_nope", headers=ADMIN)).status_code == 404
