"""Every route the README lists, over real HTTP, in real workerd."""

from __future__ import annotations

import base64
import hashlib
import threading
import time

import httpx

from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply, StreamReply
from tests.fakes.openai import openai_success
from tests.fakes.sse import sse_events, sse_frame
from tests.workerd.conftest import AUTH, PNG


def _wait_terminal(http: httpx.Client, request_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = http.get(f"/v1/generations/{request_id}").json()
        if row["status"] not in ("pending", "running"):
            return row
        time.sleep(0.2)
    raise AssertionError(f"{request_id} never finished")


def test_health_and_providers(http):
    health = http.get("/v1/health").json()
    assert health["ok"] is True and set(health["providers"]) >= {"openai", "gemini", "placeholder"}
    providers = http.get("/v1/providers").json()
    names = [p["name"] for p in providers["providers"]]
    assert {"openai", "gemini", "placeholder"} <= set(names)
    assert providers["auto_order"][:2] == ["gemini", "openai"]
    assert all(p["health"] is not None and p["capabilities"] for p in providers["providers"])


def test_placeholder_generation_image_bytes_etag_and_listing(http):
    created = http.post("/v1/generations", json={"prompt": "a lighthouse", "provider": "placeholder", "n": 2,
                                                 "size": "512x512", "caller": "lister"})
    assert created.status_code == 201, created.text
    result = created.json()
    assert result["status"] == "succeeded" and len(result["images"]) == 2
    assert created.headers["location"] == f"/v1/generations/{result['id']}"
    assert http.get(f"/v1/generations/{result['id']}").json() == result

    image = result["images"][1]
    got = http.get(image["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content.startswith(b"\x89PNG") and hashlib.sha256(got.content).hexdigest() == image["sha256"]
    assert got.headers["etag"] == f'"{image["sha256"]}"'
    assert http.get(image["url"], headers={"If-None-Match": got.headers["etag"]}).status_code == 304

    listed = http.get("/v1/generations", params={"caller": "lister"}).json()
    assert [item["id"] for item in listed["items"]][:1] == [result["id"]]


def test_openai_and_gemini_through_fakes_with_fallback(http, fakes):
    fakes.gemini.fallback = lambda _req: Reply(503, load("gemini", "unavailable"))
    fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    response = http.post("/v1/generations", json={"prompt": "a fox"})
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["provider"] == "openai" and result["actual_cost_micros"] > 0
    assert [a["provider"] for a in result["attempts"]][-1] == "openai"
    assert any(a["provider"] == "gemini" and a["outcome"] == "failed" for a in result["attempts"])
    sent = fakes.openai.received[-1]
    assert sent.headers["authorization"] == "Bearer sk-workerd-test" and sent.json()["prompt"] == "a fox"

    fakes.gemini.fallback = lambda _req: Reply(200, load("gemini", "success", IMAGE=PNG))
    direct = http.post("/v1/generations", json={"prompt": "a hare", "provider": "gemini"}).json()
    assert direct["status"] == "succeeded" and direct["provider"] == "gemini"
    assert http.get(direct["images"][0]["url"]).content == PNG
    assert fakes.gemini.received[-1].headers["x-goog-api-key"] == "gm-workerd-test"


def test_sse_reaches_the_client_before_the_provider_answers(worker, fakes):
    release = threading.Event()

    def frames():
        yield sse_frame("image_generation.partial_image", load("openai", "partial_image", IMAGE=PNG))
        assert release.wait(30), "the client never saw the first events"
        yield sse_frame("image_generation.completed", load("openai", "completed", IMAGE=PNG))

    fakes.openai.route("POST", "/v1/images/generations", lambda _req: StreamReply(frames()))
    seen: list[str] = []
    with httpx.Client(base_url=worker.url, headers=AUTH, timeout=60) as client, client.stream(
        "POST", "/v1/generations?stream=true", json={"prompt": "a heron", "provider": "openai"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("event: "):
                seen.append(line[7:])
                if line == "event: partial_image":
                    release.set()  # the provider finishes only once the client has this
    events = sse_events(lines)
    assert seen[:3] == ["accepted", "attempt", "partial_image"] and seen[-1] == "completed"
    partial = next(data for kind, data in events if kind == "partial_image")
    assert base64.b64decode(partial["b64"]) == PNG
    assert events[-1][1]["result"]["status"] == "succeeded"


def test_disconnected_stream_still_ends_stored_and_charged(worker, fakes, http):
    release = threading.Event()

    def slow_answer(_req):
        assert release.wait(30)
        return Reply(200, openai_success(PNG))

    fakes.openai.route("POST", "/v1/images/generations", slow_answer)
    before = http.get("/v1/budget").json()["today"]["spent_today_micros"]
    with httpx.Client(base_url=worker.url, headers=AUTH, timeout=60) as client, client.stream(
        "POST", "/v1/generations?stream=true&partial_images=0", json={"prompt": "an owl", "provider": "openai"}
    ) as response:
        request_id = response.headers["x-request-id"]
        for line in response.iter_lines():
            if line == "event: attempt":
                break  # the caller goes away while the provider is still working
    release.set()
    row = _wait_terminal(http, request_id)
    assert row["status"] == "succeeded" and row["actual_cost_micros"] > 0
    assert http.get(row["images"][0]["url"]).content == PNG
    deadline = time.monotonic() + 10
    while http.get("/v1/budget").json()["today"]["spent_today_micros"] < before + row["actual_cost_micros"]:
        assert time.monotonic() < deadline, "the ledger never charged the finished generation"
        time.sleep(0.2)


def test_idempotent_replay_and_conflict(http):
    body = {"prompt": "same thing", "provider": "placeholder"}
    first = http.post("/v1/generations", json=body, headers={"Idempotency-Key": "wd-key-1"})
    again = http.post("/v1/generations", json=body, headers={"Idempotency-Key": "wd-key-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
    other = http.post("/v1/generations", json={**body, "prompt": "other"}, headers={"Idempotency-Key": "wd-key-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


def test_edits_with_stored_and_inline_images(http, fakes):
    fakes.openai.route("POST", "/v1/images/edits", Reply(200, load("openai", "edit", IMAGE=PNG)))
    stored = http.post("/v1/generations", json={"prompt": "base", "provider": "placeholder", "size": "256x256"}).json()
    stored_id = stored["images"][0]["id"]
    stored_bytes = http.get(stored["images"][0]["url"]).content
    inline = base64.b64encode(render_png(b"inline", 32, 32)).decode()
    edit = http.post("/v1/generations", json={
        "prompt": "add a hat", "provider": "openai",
        "images": [{"image_id": stored_id}, {"data_base64": inline}],
    })
    assert edit.status_code == 201, edit.text
    assert edit.json()["kind"] == "edit" and edit.json()["provider"] == "openai"
    sent = fakes.openai.received[-1]
    assert sent.headers["content-type"].startswith("multipart/form-data")
    assert stored_bytes in sent.body and base64.b64decode(inline) in sent.body
    missing = http.post("/v1/generations", json={"prompt": "x", "provider": "placeholder",
                                                 "images": [{"image_id": "img_missing"}]})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_links_and_entity_images(http):
    image_id = http.post("/v1/generations", json={"prompt": "hero", "provider": "placeholder"}).json()["images"][0]["id"]
    link = {"image_id": image_id, "entity_type": "character", "entity_id": "wd-hero", "role": "portrait"}
    assert http.post("/v1/links", json=link).status_code == 201
    assert http.post("/v1/links", json=link).status_code == 200  # idempotent
    images = http.get("/v1/entities/character/wd-hero/images").json()["images"]
    assert [(i["id"], i["role"]) for i in images] == [(image_id, "portrait")]
    assert http.request("DELETE", "/v1/links", json=link).json()["removed"] is True
    assert http.get("/v1/entities/character/wd-hero/images").json()["images"] == []


def test_errors_have_one_shape(worker, http):
    anonymous = httpx.post(f"{worker.url}/v1/generations", json={"prompt": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    cases = [
        (http.get("/v1/generations/gen_nope"), 404, "not_found"),
        (http.get("/v1/nowhere"), 404, "not_found"),
        (http.post("/v1/generations", json={"prompt": ""}), 422, "invalid_request"),
        (http.post("/v1/generations", content=b"{nope", headers={"content-type": "application/json"}), 400, "malformed_body"),
        (http.post("/v1/generations", json={"prompt": "x", "provider": "nobody"}), 422, None),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert set(error) >= {"code", "message", "retryable"} and (code is None or error["code"] == code)


def test_upload_then_edit_by_upload_id(http, fakes):
    fakes.openai.route("POST", "/v1/images/edits", Reply(200, load("openai", "edit", IMAGE=PNG)))
    source = render_png(b"uploaded source", 300, 200)
    upload = http.post("/v1/uploads", content=source, headers={"content-type": "image/png"})
    assert upload.status_code == 201, upload.text
    assert upload.json()["byte_size"] == len(source) and upload.json()["content_type"] == "image/png"
    edit = http.post("/v1/generations", json={"prompt": "recolour", "provider": "openai",
                                              "images": [{"upload_id": upload.json()["id"]}]})
    assert edit.status_code == 201, edit.text
    assert source in fakes.openai.received[-1].body
    not_an_image = http.post("/v1/uploads", content=b"hello", headers={"content-type": "image/png"})
    assert not_an_image.status_code == 422 and not_an_image.json()["error"]["code"] == "invalid_request"
