"""Hostile input gets a clear error in the one shape, before any provider is called."""

from __future__ import annotations

import base64
import struct
import zlib

from pipeline.inspect_image import BadImage, inspect
from pipeline.providers.placeholder import render_png
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success

ADMIN = {"Authorization": "Bearer tok-admin"}


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    end = b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + end


def jpeg(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", 4) + b"JF" + sof + b"\xff\xd9"


def webp_vp8x(width: int, height: int) -> bytes:
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_formats_and_sizes_come_from_the_bytes():
    assert inspect(render_png(b"x", 640, 480)) == ("image/png", 640, 480)
    assert inspect(jpeg(800, 600)) == ("image/jpeg", 800, 600)
    assert inspect(webp_vp8x(300, 200)) == ("image/webp", 300, 200)
    full = render_png(b"x", 64, 64)
    for bad, why in ((full[:-20], "truncated"), (full[:20], "IHDR"), (jpeg(10, 10)[:-2], "truncated"),
                     (webp_vp8x(10, 10)[:-4], "truncated"), (png_header(100_000, 100_000), "outside"),
                     (png_header(0, 10), "outside"), (jpeg(20_000, 20_000), "outside"), (b"GIF89a....", "not a PNG")):
        try:
            inspect(bad)
        except BadImage as exc:
            assert why in str(exc), (why, str(exc))
        else:
            raise AssertionError(f"accepted: {why}")


async def test_bad_uploads_are_refused_before_any_provider_is_called(make_services, client_for, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/edits", Reply(200, openai_success(render_png(b"o", 1024, 1024))))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url})
    client = client_for(services)
    truncated = base64.b64encode(render_png(b"x", 256, 256)[:-30]).decode()
    huge = base64.b64encode(png_header(50_000, 50_000)).decode()
    text = base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()
    for data, declared in ((truncated, "image/png"), (huge, "image/png"), (text, "image/png")):
        response = await client.post("/v1/generations", json={
            "prompt": "make it blue", "provider": "openai",
            "images": [{"data_base64": data, "content_type": declared}]})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and error["details"]["field"] == "images[0]"
    assert openai.received == []
    assert await services.db.all("SELECT id FROM generation_requests") == []


async def test_strict_types_blank_prompts_and_impossible_dates(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    for body in ({"prompt": "   \n\t"}, {"prompt": "x", "n": "2"}, {"prompt": "x", "n": 2.5}, {"prompt": "x", "n": True},
                 {"prompt": "x", "max_cost_per_image_micros": True}, {"prompt": "x", "max_cost_per_image_micros": 2**60},
                 {"prompt": "x", "output_compression": 50.5}):
        response = await client.post("/v1/generations", json=body, headers=ADMIN)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_request"
    for body in ({"daily_budget_micros": True}, {"daily_budget_micros": "5"}, {"daily_budget_micros": 1.5},
                 {"daily_budget_micros": 2**53}, {"daily_budget_micros": float(2**52)},
                 {"caller_daily_budget_micros": {"a": False}}):
        response = await client.put("/v1/budget", json=body, headers=ADMIN)
        assert response.status_code == 422, (body, response.text)
    assert (await client.put("/v1/budget", json={"daily_budget_micros": 2**53 - 1}, headers=ADMIN)).status_code == 200
    # JSON Schema's integers include 2213.0 (schemathesis sends such numbers): read as the integer
    whole = await client.put("/v1/budget", json={"daily_budget_micros": 2213.0}, headers=ADMIN)
    assert whole.status_code == 200 and whole.json()["config"]["daily_budget_micros"] == 2213, whole.text
    assert isinstance(whole.json()["config"]["daily_budget_micros"], int)
    bad_day = await client.get("/v1/usage?from=2026-02-30&to=2026-03-01", headers=ADMIN)
    assert bad_day.status_code == 422 and bad_day.json()["error"]["details"]["field"] == "from"


async def test_every_error_has_the_one_shape(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    cases = [
        await client.get("/v1/nowhere", headers=ADMIN),
        await client.patch("/v1/generations/gen_x", headers=ADMIN),
        await client.post("/v1/generations", content=b'{"prompt": "\xff\xfe"}', headers={**ADMIN, "content-type": "application/json"}),
        await client.post("/v1/generations", content=b"{", headers={**ADMIN, "content-type": "application/json"}),
        await client.get("/v1/generations/", headers=ADMIN),  # no redirect built from the Host header
    ]
    assert [r.status_code for r in cases] == [404, 405, 400, 400, 404]
    for response in cases:
        error = response.json()["error"]
        assert set(error) >= {"code", "message", "retryable"} and response.headers["content-type"] == "application/json"
        assert "location" not in response.headers
