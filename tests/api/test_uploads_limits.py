"""Uploads for large edit inputs, and the memory limits of one request (limits.py)."""

from __future__ import annotations

import base64

from bench.memory import noise_png
from pipeline import limits
from pipeline.providers.placeholder import render_png


async def test_an_upload_is_stored_and_used_as_an_edit_input(make_services, client_for):
    services = make_services()
    client = client_for(services)
    png = render_png(b"upload me", 128, 96)
    created = await client.post("/v1/uploads", content=png, headers={"content-type": "image/png"},
                                params={"caller": "app"})
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["id"].startswith("upl_") and upload["content_type"] == "image/png" and upload["byte_size"] == len(png)
    assert upload["caller"] == "app" and "r2_key" not in upload
    row = await services.db.first("SELECT r2_key FROM uploads WHERE id = ?", (upload["id"],))
    assert (await services.objects.get(row["r2_key"])).body == png

    edit = await client.post("/v1/generations", json={"prompt": "add a moon", "provider": "placeholder", "caller": "app",
                                                      "images": [{"upload_id": upload["id"]}]})
    assert edit.status_code == 201, edit.text
    assert edit.json()["kind"] == "edit"
    missing = await client.post("/v1/generations", json={"prompt": "x", "provider": "placeholder",
                                                         "images": [{"upload_id": "upl_missing"}]})
    assert missing.status_code == 404 and "upl_missing" in missing.json()["error"]["message"]
    others = await client.post("/v1/generations", json={"prompt": "x", "provider": "placeholder", "caller": "someone",
                                                        "images": [{"upload_id": upload["id"]}]})
    assert others.status_code == 404  # an upload is private to its caller


async def test_uploads_are_judged_by_their_bytes_and_capped(make_services, client_for):
    client = client_for(make_services())
    fake = await client.post("/v1/uploads", content=b"GIF89a not really", headers={"content-type": "image/png"})
    assert fake.status_code == 422 and fake.json()["error"]["code"] == "invalid_request"
    empty = await client.post("/v1/uploads", content=b"", headers={"content-type": "image/png"})
    assert empty.status_code == 422
    huge = await client.post("/v1/uploads", content=b"\x89PNG" + b"\0" * limits.MAX_UPLOAD_BYTES,
                             headers={"content-type": "image/png"})
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


async def test_inputs_over_the_memory_limit_are_refused_before_any_call(make_services, client_for):
    services = make_services()
    client = client_for(services)
    big = noise_png(1800, 1200, 1)  # ~6.2 MB each: two fit one request, three do not
    ids = []
    for _ in range(3):
        answer = await client.post("/v1/uploads", content=big, headers={"content-type": "image/png"})
        ids.append(answer.json()["id"])
    refused = await client.post("/v1/generations", json={"prompt": "x", "provider": "placeholder",
                                                         "images": [{"upload_id": i} for i in ids]})
    assert refused.status_code == 422 and "at most" in refused.json()["error"]["message"]
    assert await services.db.first("SELECT COUNT(*) AS n FROM usage_events") == {"n": 0}

    inline = base64.b64encode(b"\x89PNG" + b"\0" * (limits.MAX_INLINE_IMAGE_BYTES + 10)).decode()
    too_inline = await client.post("/v1/generations", json={"prompt": "x", "provider": "placeholder",
                                                            "images": [{"data_base64": inline}]})
    assert too_inline.status_code == 422 and "/v1/uploads" in too_inline.json()["error"]["message"]


def test_images_per_call_keeps_one_calls_output_within_the_limit():
    assert limits.images_per_call("1024x1024", 10) == 4  # 3 MiB each, worst case
    assert limits.images_per_call("1536x1024", 10) == 2
    assert limits.images_per_call("3840x2160", 10) == 1  # never less than one
    assert limits.images_per_call("512x512", 10) == 10  # the provider's own limit
    assert limits.images_per_call("1024x1024", 10, transparent=True) == 3
    assert limits.images_per_call("auto", 4) == 1


async def test_a_large_request_is_split_and_stored_call_by_call(make_services, client_for, fake_server):
    from tests.fakes.server import Reply
    from tests.fakes.openai import OPENAI_ENV, openai_success

    openai = fake_server()
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    png = render_png(b"big", 64, 64)
    seen: list[tuple[int, int]] = []  # (n asked, images already in R2) per call

    def answer(req):
        n = req.json()["n"]
        seen.append((n, sum(1 for _ in (services.objects.root / "images").rglob("*.png"))
                     if (services.objects.root / "images").exists() else 0))
        body = openai_success(png)
        body["data"] = body["data"] * n
        return Reply(200, body)

    openai.route("POST", "/v1/images/generations", answer)
    result = await client_for(services).post("/v1/generations", json={"prompt": "ten", "provider": "openai",
                                                                      "n": 10, "size": "1536x1024"})
    assert result.status_code == 201, result.text
    assert len(result.json()["images"]) == 10 and [i["index"] for i in result.json()["images"]] == list(range(10))
    # two worst-case 1536x1024 images per call fit MAX_CALL_OUTPUT_BYTES; each call's images are stored
    # before the next call is made, so at most one call's images are held at a time
    assert seen == [(2, 0), (2, 2), (2, 4), (2, 6), (2, 8)]
