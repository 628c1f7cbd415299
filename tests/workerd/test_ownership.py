"""Two callers in real workerd: alice cannot use bob's image as an edit input (the provider
never sees his bytes), and a read key's review queue is its own caller's."""

from __future__ import annotations

import httpx

from tests.workerd.conftest import AUTH


def _key(http: httpx.Client, caller: str, scopes: list[str]) -> dict[str, str]:
    made = http.post("/v1/keys", json={"name": f"{caller}-workerd", "caller": caller, "scopes": scopes})
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


def test_another_callers_image_is_no_input_and_not_in_the_queue(http, fakes):
    alice, bob = _key(http, "wd-alice", ["generate", "read"]), _key(http, "wd-bob", ["generate", "read"])
    alice_read = _key(http, "wd-alice", ["read"])
    bobs = http.post("/v1/generations", headers=bob, json={"prompt": "bob's face", "provider": "placeholder",
                                                           "size": "256x256"})
    assert bobs.status_code == 201, bobs.text
    bob_image = bobs.json()["images"][0]["id"]

    for body in ({"prompt": "wear it", "provider": "openai", "images": [{"image_id": bob_image}]},
                 {"prompt": "wear it", "provider": "openai", "images": [{"image_id": bob_image}], "caller": "wd-alice"}):
        refused = http.post("/v1/generations", headers=alice, json=body)
        assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found", refused.text
    openai_edit = http.post("/v1/images/edits", headers=alice, json={
        "prompt": "wear it", "model": "gpt-image-2", "images": [{"image_url": f"{http.base_url}v1/images/{bob_image}"}]})
    assert openai_edit.status_code == 404, openai_edit.text
    assert fakes.openai.received == []  # bob's bytes never left

    own = http.post("/v1/generations", headers=alice, json={"prompt": "alice's", "provider": "placeholder"})
    queue = http.get("/v1/images?status=pending&limit=200", headers=alice_read).json()["items"]
    assert {i["caller"] for i in queue} == {"wd-alice"} and own.json()["images"][0]["id"] in {i["id"] for i in queue}
    everyone = http.get("/v1/images?status=pending&limit=200", headers=AUTH).json()["items"]
    assert bob_image in {i["id"] for i in everyone}
