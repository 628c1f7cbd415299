"""The OpenAI-compatible Images API, driven by the official `openai` Python SDK
over a real socket (the app under uvicorn), with fake providers on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib

import httpx
import openai
import pytest

from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success
from tests.fakes.app_server import start_server

TOKEN = "local-test-token"
GEMINI_GEN = "/v1beta/models/gemini-nano-banana-2.1:generateContent"


@pytest.fixture
def worker(make_services):
    """(services, base URL, an OpenAI client pointed at it) for the given env."""
    stops = []

    def start(env: dict[str, str] | None = None):
        services = make_services({"API_TOKEN": TOKEN, **(env or {})})
        url, stop = start_server(services)
        stops.append(stop)
        return services, url, openai.OpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)

    yield start
    for stop in stops:
        stop()


def _get(url: str, path: str) -> httpx.Response:
    return httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {TOKEN}"})


def test_sdk_generates_and_the_images_are_stored_and_linked(worker):
    services, url, client = worker()
    response = client.images.generate(
        prompt="a lighthouse at dusk", model="auto", n=2, size="512x512",
        extra_body={"links": [{"entity_type": "location", "entity_id": "loc-1"}]},
    )
    assert len(response.data) == 2
    ext = response.image_worker  # the SDK keeps fields OpenAI has no name for
    stored = _get(url, f"/v1/generations/{ext['request_id']}").json()
    assert (stored["status"], stored["kind"], stored["provider"], stored["size"]) == ("succeeded", "generate", "placeholder", "512x512")
    assert response.size == "512x512" and response.output_format == "png"
    for item, image in zip(response.data, stored["images"], strict=True):
        data = base64.b64decode(item.b64_json)
        assert data.startswith(b"\x89PNG") and hashlib.sha256(data).hexdigest() == image["sha256"]
        # Absolute already in the stored result (issue 18: the request's own origin).
        assert item.url == image["url"] and item.url.startswith(url + "/v1/images/")
        assert httpx.get(item.url).content == data
    linked = _get(url, "/v1/entities/location/loc-1/images").json()
    assert sorted(i["id"] for i in linked["images"]) == sorted(i["id"] for i in stored["images"])


def test_url_format_returns_links_without_bytes(worker):
    _, _, client = worker()
    response = client.images.generate(prompt="a fox", model="placeholder", response_format="url")
    assert response.data[0].b64_json is None
    assert httpx.get(response.data[0].url).content.startswith(b"\x89PNG")


def test_a_wrong_key_is_refused_before_anything_runs(worker):
    services, url, _ = worker()
    intruder = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        intruder.images.generate(prompt="a fox")
    assert err.value.body["code"] == "unauthorized"


def test_model_may_name_a_provider_model_and_is_billed_by_its_usage(worker, fake_server):
    fake = fake_server()
    png = render_png(b"openai", 1024, 1024)
    fake.route("POST", "/v1/images/generations", Reply(200, openai_success(png)))
    _, url, client = worker({**OPENAI_ENV, "OPENAI_BASE_URL": fake.url})
    response = client.images.generate(prompt="a red fox", model="gpt-image-2.6-flare", quality="low")
    assert base64.b64decode(response.data[0].b64_json) == png
    assert fake.received[0].json()["model"] == "gpt-image-2.6-flare"
    ext = response.image_worker
    assert (ext["provider"], ext["model"], ext["cost_micros"]) == ("openai", "gpt-image-2.6-flare", 8_410)
    assert _get(url, f"/v1/generations/{ext['request_id']}").json()["actual_cost_micros"] == 8_410


def test_an_unknown_model_is_a_clear_422(worker):
    _, _, client = worker()
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.images.generate(prompt="a fox", model="dall-e-9")
    # the code /v1/generations answers for the same mistake (tests/api/test_one_code_per_mistake.py)
    assert err.value.body["code"] == "unsupported" and "dall-e-9" in err.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.images.generate(prompt="a fox", n="2")  # a string is not an integer
    assert err.value.body["details"]["errors"][0]["field"] == "n"


def test_auto_falls_back_to_the_next_provider(worker, fake_server):
    fake = fake_server()
    fake.route("POST", "/v1/images/generations", Reply(500, {"error": {"message": "boom", "type": "server_error"}}))
    png = render_png(b"gemini", 1024, 1024)
    fake.route("POST", GEMINI_GEN, Reply(200, load("gemini", "success", IMAGE=png)))
    env = {**OPENAI_ENV, "OPENAI_BASE_URL": fake.url, "GEMINI_API_KEY": "g-key", "GEMINI_BASE_URL": fake.url,
           "AUTO_PROVIDER_ORDER": "openai,gemini", "MAX_ATTEMPTS_PER_PROVIDER": "1"}
    _, url, client = worker(env)
    response = client.images.generate(prompt="a red fox", model="auto")
    assert base64.b64decode(response.data[0].b64_json) == png
    stored = _get(url, f"/v1/generations/{response.image_worker['request_id']}").json()
    assert [(a["provider"], a["outcome"]) for a in stored["attempts"]] == [("openai", "failed"), ("gemini", "succeeded")]


def test_the_budget_applies(worker, fake_server):
    fake = fake_server()
    fake.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"x", 64, 64))))
    _, url, client = worker({**OPENAI_ENV, "OPENAI_BASE_URL": fake.url})
    httpx.put(f"{url}/v1/budget", json={"daily_budget_micros": 1000}, headers={"Authorization": f"Bearer {TOKEN}"})
    with pytest.raises(openai.APIStatusError) as err:
        client.images.generate(prompt="a red fox", model="openai")
    assert err.value.status_code == 402 and err.value.body["code"] == "budget_exceeded"
    assert fake.received == []  # refused before the provider was called
    with pytest.raises(openai.APIError) as err:  # streaming: the refusal arrives as an `error` event
        list(client.images.generate(prompt="a red fox", model="openai", stream=True))
    assert "budget" in err.value.message and err.value.body["code"] == "budget_exceeded"


def test_sdk_streams_partial_images_then_completed(worker):
    services, url, client = worker()
    events = list(client.images.generate(prompt="a lighthouse", model="placeholder", stream=True, partial_images=2,
                                         size="256x256"))
    kinds = [e.type for e in events]
    assert kinds[-1] == "image_generation.completed" and kinds.count("image_generation.completed") == 1
    partials = [e for e in events if e.type == "image_generation.partial_image"]
    assert len(partials) >= 1 and [p.partial_image_index for p in partials] == list(range(len(partials)))
    done = events[-1]
    assert done.size == "256x256" and done.output_format == "png" and done.usage.total_tokens == 0
    stored = _get(url, f"/v1/generations/{done.image_worker['request_id']}").json()
    assert stored["status"] == "succeeded"
    assert hashlib.sha256(base64.b64decode(done.b64_json)).hexdigest() == stored["images"][0]["sha256"]


def test_sdk_edits_with_files_and_a_mask(worker):
    _, url, client = worker()
    source = render_png(b"source", 256, 256)
    mask = render_png(b"mask", 256, 256, transparent=True)
    response = client.images.edit(image=[("a.png", source, "image/png"), ("b.png", source, "application/octet-stream")],
                                  mask=("m.png", mask, "image/png"), prompt="add a moon", size="256x256", n=1)
    stored = _get(url, f"/v1/generations/{response.image_worker['request_id']}").json()
    assert (stored["kind"], stored["status"], stored["provider"]) == ("edit", "succeeded", "placeholder")
    assert base64.b64decode(response.data[0].b64_json).startswith(b"\x89PNG")

    events = list(client.images.edit(image=("a.png", source), prompt="add a moon", stream=True, partial_images=1))
    assert events[-1].type == "image_edit.completed"
    assert {e.type for e in events} <= {"image_edit.partial_image", "image_edit.completed"}


def test_json_edits_take_data_urls_and_stored_images(worker):
    _, url, client = worker()
    first = client.images.generate(prompt="a cat", model="placeholder", size="256x256")
    data_url = "data:image/png;base64," + base64.b64encode(render_png(b"s", 64, 64)).decode()
    body = {"prompt": "make it blue", "images": [{"image_url": data_url}, {"image_url": first.data[0].url}]}
    answer = httpx.post(f"{url}/v1/images/edits", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"][0]["b64_json"]
    outside = {"prompt": "x", "images": [{"image_url": "http://169.254.169.254/latest"}]}
    refused = httpx.post(f"{url}/v1/images/edits", json=outside, headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"


def test_malformed_edit_forms_get_the_one_error_shape(worker):
    _, url, _ = worker()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    png = render_png(b"s", 64, 64)
    bad_n = httpx.post(f"{url}/v1/images/edits", headers=auth, data={"prompt": "x", "n": "two"},
                       files={"image": ("a.png", png, "image/png")})
    assert bad_n.status_code == 422 and bad_n.json()["error"]["details"]["field"] == "n"
    no_image = httpx.post(f"{url}/v1/images/edits", headers=auth, data={"prompt": "x"}, files={"other": ("a", b"1")})
    assert no_image.status_code == 422 and "image" in no_image.json()["error"]["message"]
    truncated = httpx.post(f"{url}/v1/images/edits", content=b"--abc\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nx",
                           headers={**auth, "Content-Type": "multipart/form-data; boundary=abc"})
    assert truncated.status_code == 400 and truncated.json()["error"]["code"] == "malformed_body"
    not_image = httpx.post(f"{url}/v1/images/edits", headers=auth, data={"prompt": "x"},
                           files={"image": ("a.png", b"not an image", "image/png")})
    assert not_image.status_code == 422 and not_image.json()["error"]["code"] == "invalid_request"


def test_the_openapi_document_lists_the_openai_routes(worker):
    _, url, _ = worker()
    doc = httpx.get(f"{url}/openapi.json").json()
    edits = doc["paths"]["/v1/images/edits"]["post"]
    assert set(edits["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    for path in ("/v1/images/generations", "/v1/images/edits"):
        content = doc["paths"][path]["post"]["responses"]["200"]["content"]
        assert {"application/json", "text/event-stream"} <= set(content)
