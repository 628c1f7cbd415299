"""A generation that does not fit the isolate's budget of image bytes waits, and is then
refused before any money moves: every door answers the same retryable 503
`isolate_busy` with Retry-After and the request id; no provider was called, the row is
`refused`, nothing was charged or left reserved."""

from __future__ import annotations

import json

import pytest

from pipeline import limits
from pipeline.api import rpc
from pipeline.generation import calls
from pipeline.providers.placeholder import render_png
from tests.clocks import clock_at
from tests.fakes.openai import OPENAI_ENV, openai_success
from tests.fakes.server import Reply

PNG = render_png(b"busy", 64, 64)
BIG = {"prompt": "a harbour", "size": "1536x1024", "n": 4, "quality": "low"}


@pytest.fixture
def busy_world(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    openai.route("POST", "/v1/images/edits", Reply(200, openai_success(PNG)))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "ISOLATE_IMAGE_MIB": "12",
                              "SLOT_WAIT_S": "2"}, clock=clock_at(instant_sleep=True))
    services.extras["rpc_app"] = client_for(services)._transport.app  # rpc runs the app's routes
    return services, client_for(services), openai


async def _json(client):
    r = await client.post("/v1/generations", json=BIG)
    assert r.status_code == 503, r.text
    return r.headers["retry-after"], r.json()["error"]


async def _sse(client):
    """The stream has begun (200) when the generation is refused: it ends with a `failed` event."""
    r = await client.post("/v1/generations?stream=true&partial_images=0", json=BIG)
    frames = [block for block in r.text.split("\n\n") if block.startswith("event:")]
    kind, _, data = frames[-1].partition("\ndata: ")
    assert kind == "event: failed", frames
    error = json.loads(data)["error"]
    return str(round(error["retry_after_s"])), error


async def _openai(client):
    r = await client.post("/v1/images/generations", json={"prompt": "a harbour", "size": "1536x1024", "n": 4})
    assert r.status_code == 503, r.text
    return r.headers["retry-after"], r.json()["error"]


async def _openai_edit(client):
    r = await client.post("/v1/images/edits", data={"prompt": "night", "size": "1536x1024"},
                          files={"image": ("in.png", PNG, "image/png")})
    assert r.status_code == 503, r.text
    return r.headers["retry-after"], r.json()["error"]


DOORS = {"json": _json, "sse": _sse, "openai": _openai, "openai_edit": _openai_edit}


@pytest.mark.parametrize("door", list(DOORS))
async def test_every_door_refuses_alike_before_any_provider_call(busy_world, door):
    services, client, openai = busy_world
    hog = services.memory.hold("gen_hog", wait_s=0)
    await hog.take(services.memory.capacity, "answers")  # another request holds the whole budget
    retry_after, error = await DOORS[door](client)
    assert retry_after == "2", error
    assert error["code"] == "isolate_busy" and error["retryable"] is True
    request_id = error["details"]["request_id"]
    assert openai.received == []  # no provider was called
    row = await services.db.first("SELECT status, error_code, actual_cost_micros FROM generation_requests WHERE id = ?",
                                  (request_id,))
    if door == "openai_edit":
        # An edit waits for its input images' bytes before they are fetched, which is before
        # its row is written (the plan needs them): refused with nothing recorded.
        assert row is None and "input images" in error["message"]
    else:
        assert row == {"status": "refused", "error_code": "isolate_busy", "actual_cost_micros": 0}
    usage = (await client.get("/v1/usage")).json()["budget"]
    assert usage["reserved_now_micros"] == 0 and usage["spent_today_micros"] == 0
    hog.release()
    assert services.memory.held == 0


async def test_rpc_answers_the_same_error(busy_world):
    services, client, openai = busy_world
    hog = services.memory.hold("gen_hog", wait_s=0)
    await hog.take(services.memory.capacity, "answers")
    answer = await rpc.call(services, "generate", BIG)
    assert answer["ok"] is False and answer["error"]["code"] == "isolate_busy"
    assert answer["error"]["retry_after_s"] == 2.0 and answer["error"]["details"]["request_id"].startswith("gen_")
    assert openai.received == []


async def test_once_the_bytes_are_free_the_same_request_succeeds_and_gives_them_back(busy_world):
    services, client, openai = busy_world
    two_images = openai_success(PNG)
    two_images["data"] *= 2  # each call asks for two (12 MiB of worst-case pixels per call)
    openai.route("POST", "/v1/images/generations", Reply(200, two_images))
    r = await client.post("/v1/generations", json=BIG)
    assert r.status_code == 201, r.text
    assert len(r.json()["images"]) == 4
    # two calls of two images, one after the other: the most held is one call's worst case
    two = 2 * limits.worst_case_image_bytes("1536x1024")
    assert services.memory.stats.peak_bytes == two and services.memory.held == 0
    assert len(openai.received) == 2


def test_what_a_generation_takes_is_its_largest_candidates_call_group():
    assert limits.images_per_call("1536x1024", 10) == 2  # 12 MiB of worst-case pixels per call
    assert calls.peak_output_bytes([]) == 0


async def test_an_upload_waits_for_its_bytes_and_is_refused_alike(busy_world):
    services, client, openai = busy_world
    hog = services.memory.hold("gen_hog", wait_s=0)
    await hog.take(services.memory.capacity, "answers")
    r = await client.post("/v1/uploads", content=PNG, headers={"content-type": "image/png"})
    assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
    assert r.json()["error"]["code"] == "isolate_busy" and "upload" in r.json()["error"]["message"]
    hog.release()
    ok = await client.post("/v1/uploads", content=PNG, headers={"content-type": "image/png"})
    assert ok.status_code == 201, ok.text
    assert services.memory.held == 0


async def test_a_variant_takes_its_bytes_before_the_original_is_read(busy_world):
    services, client, openai = busy_world
    made = await client.post("/v1/generations", json={"prompt": "a harbour", "quality": "low"})
    assert made.status_code == 201, made.text
    image_id = made.json()["images"][0]["id"]
    hog = services.memory.hold("gen_hog", wait_s=0)
    await hog.take(services.memory.capacity, "answers")
    refused = await client.get(f"/v1/images/{image_id}", params={"width": 32})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "isolate_busy", refused.text
    assert "request_id" not in refused.json()["error"]["details"]  # no generation asked for it
    original = await client.get(f"/v1/images/{image_id}")  # the original needs no transformation
    assert original.status_code == 200
    hog.release()
    variant = await client.get(f"/v1/images/{image_id}", params={"width": 32})
    assert variant.status_code == 200 and variant.content != original.content
    assert services.memory.held == 0 and services.memory.stats.peak_bytes > 0
