"""Variants through wrangler's local Images binding (miniflare's sharp simulator) in real
workerd: WebP and AVIF of a stored image, the asked size, made once and then served from R2."""

from __future__ import annotations

import io
import time

import httpx
from PIL import Image


def _transformations(http: httpx.Client) -> int:
    usage = http.get("/v1/usage")
    assert usage.status_code == 200, usage.text
    return usage.json()["image_transformations"]["total"]


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_the_images_binding_serves_webp_and_avif_variants_once(http: httpx.Client, worker):
    made = http.post("/v1/generations", json={"prompt": "a lighthouse at dusk", "provider": "placeholder",
                                              "size": "1024x1024"})
    assert made.status_code == 201, made.text
    image = made.json()["images"][0]
    assert image["url"] == f"{worker.url}/v1/images/{image['id']}"  # absolute: the request's own origin
    assert image["thumbnail_url"] == image["url"] + "?preset=thumb"
    before = _transformations(http)

    started = time.monotonic()
    webp = http.get(f"/v1/images/{image['id']}?width=256&format=webp")
    webp_s = time.monotonic() - started
    assert webp.status_code == 200, webp.text
    assert webp.headers["content-type"] == "image/webp" and webp.headers["etag"].startswith('"')
    assert (_decoded(webp.content).format, _decoded(webp.content).size) == ("WEBP", (256, 256))
    avif = http.get(image["thumbnail_url"], headers={"Accept": "image/avif,image/webp,*/*;q=0.8"})
    assert avif.status_code == 200, avif.text
    # Vary: Accept (the format was chosen from it), and Origin: CORS is on in this session
    assert avif.headers["content-type"] == "image/avif" and {v.strip() for v in avif.headers["vary"].split(",")} == {"Accept", "Origin"}
    assert avif.content[4:12] == b"ftypavif" and _decoded(avif.content).size == (256, 256)
    assert _transformations(http) == before + 2

    started = time.monotonic()
    again = http.get(f"/v1/images/{image['id']}?width=256&format=webp")
    again_s = time.monotonic() - started
    assert again.content == webp.content and again.headers["etag"] == webp.headers["etag"]
    assert _transformations(http) == before + 2  # served from R2: no second transformation
    assert http.get(f"/v1/images/{image['id']}?width=256&format=webp",
                    headers={"If-None-Match": webp.headers["etag"]}).status_code == 304
    original = http.get(image["url"])
    assert original.headers["content-type"] == "image/png" and len(original.content) == image["byte_size"]
    print(f"\nworkerd variants: original {image['byte_size']} B, webp 256 {len(webp.content)} B "
          f"({webp_s:.2f}s made, {again_s:.2f}s from R2), avif thumb {len(avif.content)} B")

    deleted = http.delete(f"/v1/generations/{made.json()['id']}")
    assert deleted.status_code == 200 and len(deleted.json()["variants"]) == 2
    assert http.get(image["thumbnail_url"]).status_code == 404
