"""In real workerd: the official OpenAI SDK against the Worker, and the full RPC
surface from a JS Worker over a service binding, answering as HTTP does."""

from __future__ import annotations

import base64

import openai

from pipeline.providers.placeholder import render_png
from tests.workerd.conftest import TOKEN


def test_openai_sdk_generates_streams_and_edits_in_workerd(worker, http):
    client = openai.OpenAI(base_url=f"{worker.url}/v1", api_key=TOKEN, max_retries=0, timeout=120)
    made = client.images.generate(prompt="a lighthouse", model="placeholder", size="256x256")
    data = base64.b64decode(made.data[0].b64_json)
    assert data.startswith(b"\x89PNG")
    stored = http.get(f"/v1/generations/{made.image_worker['request_id']}").json()
    assert stored["status"] == "succeeded" and stored["provider"] == "placeholder"

    events = list(client.images.generate(prompt="a lighthouse", model="placeholder", size="256x256",
                                         stream=True, partial_images=1))
    assert events[-1].type == "image_generation.completed" and base64.b64decode(events[-1].b64_json).startswith(b"\x89PNG")

    source = render_png(b"src", 64, 64)
    edited = client.images.edit(image=("a.png", source, "image/png"), prompt="add a moon", model="placeholder")
    assert http.get(f"/v1/generations/{edited.image_worker['request_id']}").json()["kind"] == "edit"


def test_every_rpc_operation_answers_as_http_does_in_workerd(rpc, http):
    made = rpc("generate", {"prompt": "a castle", "provider": "placeholder", "size": "256x256", "caller": "app"})
    assert made["ok"], made
    image_id = made["result"]["images"][0]["id"]
    link = {"image_id": image_id, "entity_type": "character", "entity_id": "wd-1", "caller": "app"}  # app's entity
    assert rpc("link", link)["ok"]
    listed = rpc("entity_images", {"entity_type": "character", "entity_id": "wd-1", "caller": "app"})
    assert [i["id"] for i in listed["result"]["images"]] == [image_id]
    page = rpc("list_generations", {"caller": "app", "limit": 1})
    assert page["ok"] and len(page["result"]["items"]) == 1
    # The `rpc` and `worker` sessions are separate Workers (separate D1): compare what holds in both.
    cases = [
        ("entity_images", {"entity_type": "nope", "entity_id": "x"}, "/v1/entities/nope/x/images"),
        ("list_generations", {"limit": 0}, "/v1/generations?limit=0"),
        ("usage", {"from": "2026-13-45"}, "/v1/usage?from=2026-13-45"),
        ("get_generation", {"request_id": "gen_missing"}, "/v1/generations/gen_missing"),
        ("estimate", {"prompt": "a fox", "size": "1x1"}, None),
    ]
    for name, arg, path in cases:
        over_rpc = rpc(name, arg)
        response = http.get(path) if path else http.post("/v1/estimate", json=arg)
        expected = {"ok": True, "result": response.json()} if response.is_success else {"ok": False, **response.json()}
        assert over_rpc == expected, name
    edit = rpc("edit", {"prompt": "moon", "provider": "placeholder",
                        "images": [{"data_base64": base64.b64encode(render_png(b"s", 64, 64)).decode()}]})
    assert edit["ok"] and edit["result"]["kind"] == "edit"
    assert rpc("edit", {"prompt": "nothing"})["error"]["code"] == "invalid_request"
    assert rpc("put_budget", {"daily_budget_micros": 50_000_000})["ok"]
    assert rpc("unlink", link)["ok"] and rpc("unlink", link)["error"]["code"] == "not_found"
