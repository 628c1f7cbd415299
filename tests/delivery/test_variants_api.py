"""GET /v1/images/{id} variants under CPython (Pillow): made once, stored beside the original,
served with an ETag and the original's access; counted in /v1/usage; deleted with the original."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import parse_qs, urlparse

from PIL import Image

from tests.clocks import clock_at

ADMIN = {"Authorization": "Bearer tok-admin"}
BROWSER = {"Accept": "image/avif,image/webp,*/*;q=0.8"}


async def generate(client, **body) -> dict:
    response = await client.post("/v1/generations", json={"prompt": "a lighthouse at dusk", "size": "1024x1024", **body},
                                 headers=ADMIN)
    assert response.status_code == 201, response.text
    return response.json()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


class CountingTransformer:
    """The real Pillow transformer, counting its calls."""

    def __init__(self) -> None:
        from local.images import PillowTransformer

        self.inner, self.calls = PillowTransformer(), 0

    async def transform(self, data, transform, output):
        self.calls += 1
        return await self.inner.transform(data, transform, output)


async def test_webp_and_avif_variants_are_made_once_and_served_from_storage(make_services, client_for):
    images = CountingTransformer()
    services = make_services({"API_TOKEN": "tok-admin"}, images=images)
    client = client_for(services)
    image = (await generate(client))["images"][0]
    assert image["url"] == f"http://worker.test/v1/images/{image['id']}"  # absolute: the request's origin
    assert image["thumbnail_url"] == f"http://worker.test/v1/images/{image['id']}?preset=thumb"

    webp = await client.get(f"/v1/images/{image['id']}?width=256&format=webp")
    assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
    assert decoded(webp.content).format == "WEBP" and decoded(webp.content).size == (256, 256)
    assert webp.headers["cache-control"] == "public, max-age=31536000, immutable" and "vary" not in webp.headers
    thumb = await client.get(image["thumbnail_url"], headers=BROWSER)
    assert thumb.headers["content-type"] == "image/avif" and thumb.headers["vary"] == "Accept"
    assert decoded(thumb.content).size == (256, 256)
    assert len(thumb.content) * 2 < image["byte_size"]  # the placeholder's flat colours compress well already
    assert images.calls == 2

    again = await client.get(f"/v1/images/{image['id']}?width=200&format=webp")  # snaps to the same variant
    assert again.content == webp.content and again.headers["etag"] == webp.headers["etag"]
    assert images.calls == 2  # served from R2, no second transformation
    unchanged = await client.get(f"/v1/images/{image['id']}?width=256&format=webp",
                                 headers={"If-None-Match": webp.headers["etag"]})
    assert unchanged.status_code == 304 and images.calls == 2

    stored = await services.db.all("SELECT r2_key, width, height FROM image_variants WHERE image_id = ?", (image["id"],))
    original_key = (await services.db.first("SELECT r2_key FROM images WHERE id = ?", (image["id"],)))["r2_key"]
    assert sorted(r["r2_key"] for r in stored) == [original_key.removesuffix(".png") + ".v/w256-h0-scale-down-q85-webp.webp",
                                                  original_key.removesuffix(".png") + ".v/w256-h256-cover-q85-avif.avif"]
    usage = (await client.get("/v1/usage", headers=ADMIN)).json()["image_transformations"]
    assert usage["total"] == 2 and usage["month_to_date"] == 2 and usage["month_estimated_cost_micros"] == 0

    original = await client.get(image["url"], headers=BROWSER)  # no variant parameters: the original bytes
    assert original.headers["content-type"] == "image/png" and len(original.content) == image["byte_size"]


async def test_a_deleted_images_variants_go_with_it_and_are_not_served(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin"})
    client = client_for(services)
    result = await generate(client)
    image = result["images"][0]
    assert (await client.get(image["thumbnail_url"])).status_code == 200
    keys = [r["r2_key"] for r in await services.db.all("SELECT r2_key FROM image_variants")]
    assert len(keys) == 1 and await services.objects.get(keys[0]) is not None
    deleted = (await client.delete(f"/v1/generations/{result['id']}", headers=ADMIN)).json()
    assert deleted["variants"] == keys
    assert await services.objects.get(keys[0]) is None
    assert (await client.get(image["thumbnail_url"])).status_code == 404


async def test_a_rejected_images_variants_are_deleted_and_never_served(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin"})
    client = client_for(services)
    image = (await generate(client))["images"][0]
    assert (await client.get(image["thumbnail_url"])).status_code == 200
    key = (await services.db.first("SELECT r2_key FROM image_variants"))["r2_key"]
    rejected = await client.post(f"/v1/images/{image['id']}/reject", json={"reason": "off model"}, headers=ADMIN)
    assert rejected.status_code == 200, rejected.text
    assert await services.objects.get(key) is None
    assert (await client.get(image["thumbnail_url"])).status_code == 404


async def test_private_variants_need_a_key_or_a_signature_naming_that_variant(make_services, client_for):
    clock = clock_at()
    services = make_services({"API_TOKEN": "tok-admin", "PUBLIC_IMAGES": "false"}, clock=clock)
    client = client_for(services)
    image = (await generate(client))["images"][0]
    assert (await client.get(image["thumbnail_url"])).status_code == 401
    with_key = await client.get(image["thumbnail_url"], headers=ADMIN)
    assert with_key.status_code == 200 and with_key.headers["cache-control"].startswith("private")

    signed = (await client.get(f"/v1/images/{image['id']}/signed-url?preset=thumb&format=webp", headers=ADMIN)).json()
    assert signed["variant"] == "w256-h256-cover-q85-webp"
    got = await client.get(signed["url"])
    assert got.status_code == 200 and decoded(got.content).size == (256, 256)
    query = parse_qs(urlparse(signed["url"]).query)
    sig = f"expires={query['expires'][0]}&signature={query['signature'][0]}"
    base = f"/v1/images/{image['id']}"
    assert (await client.get(f"{base}?{sig}")).status_code == 401  # not the original
    assert (await client.get(f"{base}?width=1024&format=webp&{sig}")).status_code == 401  # not another variant
    original = (await client.get(f"{base}/signed-url", headers=ADMIN)).json()["url"]
    oq = parse_qs(urlparse(original).query)
    assert (await client.get(f"{base}?preset=thumb&expires={oq['expires'][0]}&signature={oq['signature'][0]}")).status_code == 401


async def test_bad_parameters_and_oversized_inputs_are_refused_with_the_error_shape(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin"})
    client = client_for(services)
    image = (await generate(client))["images"][0]
    for query in ("width=0", "width=abc", "fit=squeeze", "format=gif", "preset=poster", "quality=101"):
        bad = await client.get(f"/v1/images/{image['id']}?{query}")
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request", query
    await services.db.run("UPDATE images SET byte_size = ? WHERE id = ?", (20 * 1024 * 1024 + 1, image["id"]))
    big = await client.get(image["thumbnail_url"])
    assert big.status_code == 422 and "20971520" in big.json()["error"]["message"]
    await services.db.run("UPDATE images SET byte_size = 10, width = 12000, height = 9000 WHERE id = ?", (image["id"],))
    assert (await client.get(image["thumbnail_url"])).status_code == 422


async def test_public_base_url_makes_result_links_absolute_there(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "PUBLIC_BASE_URL": "https://img.example.com/"}))
    image = (await generate(client))["images"][0]
    assert image["url"].startswith("https://img.example.com/v1/images/img_")
    assert image["thumbnail_url"] == image["url"] + "?preset=thumb"
    listed = (await client.get("/v1/generations", headers=ADMIN)).json()
    assert listed["items"][0]["images"][0]["thumbnail_url"] == image["thumbnail_url"]


async def test_edits_take_our_images_by_id_or_by_a_variant_url_and_use_the_original(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin"}))
    image = (await generate(client))["images"][0]
    by_id = await client.post("/v1/generations", json={"prompt": "make it night", "size": "1024x1024",
                                                       "images": [{"image_id": image["id"]}]}, headers=ADMIN)
    assert by_id.status_code == 201, by_id.text
    by_url = await client.post("/v1/images/edits", json={"prompt": "make it night", "size": "1024x1024",
                                                          "model": "placeholder-1",
                                                          "images": [{"image_url": image["thumbnail_url"]}]}, headers=ADMIN)
    assert by_url.status_code == 200, by_url.text
    # The placeholder seeds on its inputs' bytes: the same picture means the same (original) input.
    assert by_url.json()["data"][0]["id"] != by_id.json()["images"][0]["id"]
    edited = await client.get(by_url.json()["data"][0]["url"])
    assert hashlib.sha256(edited.content).hexdigest() == by_id.json()["images"][0]["sha256"]
