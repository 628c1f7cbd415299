"""Vertex AI (imagen, gemini-vertex) against what google-genai 3.6.1 sends for the same
intent (issue 17): the health probe's path, and personGeneration, which Vertex takes."""

from __future__ import annotations

import hashlib

import pytest

from pipeline.catalog import default_model, gemini as gemini_catalog, imagen as imagen_catalog
from pipeline.providers.placeholder import render_png
from tests.clocks import TODAY
from tests.fakes.fixtures import FIXTURES, load
from tests.fakes.sdks import VERTEX_TOKEN, genai_client, last
from tests.fakes.server import Received, Reply
from tests.fakes.vertex import service_account, token_endpoint

genai_types = pytest.importorskip("google.genai.types")

PNG = render_png(b"vertex parity", 64, 64)
IMAGEN = default_model(imagen_catalog.CATALOG, TODAY)
GEMINI = default_model(gemini_catalog.CATALOG, TODAY)
PROJECT_PATH = "/v1/projects/proj-1/locations/europe-west4/publishers/google/models"


def _publisher_model(req: Received) -> Reply:
    """`publishers.models.get`: the PublisherModel of the model in the path."""
    model = req.path.rsplit("/", 1)[-1]
    return Reply(200, (FIXTURES / "vertex" / "publisher_model.json").read_text().replace("__MODEL__", model),
                 headers={"Content-Type": "application/json"})


@pytest.fixture
def vertex_services(make_services, fake_server):
    server = fake_server()
    creds, public_key = service_account(server)
    token_endpoint(server, public_key)
    services = make_services({"VERTEX_SERVICE_ACCOUNT_JSON": creds, "VERTEX_LOCATION": "europe-west4",
                              "VERTEX_BASE_URL": server.url, "VERTEX_GEMINI": "true", "PLACEHOLDER_ENABLED": "false"})
    return server, services


async def test_the_probe_gets_the_publisher_model_as_the_sdk_does(vertex_services, client_for, fake_server):
    """Item 7: GET /v1/publishers/google/models/{m} (no project, no location), for imagen and gemini-vertex."""
    server, services = vertex_services
    for model in (IMAGEN, GEMINI):
        server.route("GET", f"/v1/publishers/google/models/{model}", _publisher_model)
    client = client_for(services)
    view = (await client.get("/v1/providers", params={"probe": "true"})).json()
    probes = {p["name"]: p["probe"] for p in view["providers"]}
    assert probes["imagen"]["ok"] is True and probes["gemini-vertex"]["ok"] is True, probes

    sdk_fake = fake_server()
    sdk_fake.fallback = _publisher_model
    sdk = genai_client(sdk_fake, vertex=True)
    got = sdk.models.get(model=IMAGEN)  # the SDK parses the fixture
    assert got.name == f"publishers/google/models/{IMAGEN}" and got.version == "001"
    sdk_get = last(sdk_fake, "GET")
    sent = sorted(r.path for r in server.received if r.method == "GET")
    assert sent == sorted(f"/v1/publishers/google/models/{m}" for m in (IMAGEN, GEMINI))
    assert sdk_get.path == f"/v1/publishers/google/models/{IMAGEN}" in sent
    assert sdk_get.headers["authorization"] == f"Bearer {VERTEX_TOKEN}"
    assert all(r.headers["authorization"].startswith("Bearer ") for r in server.received if r.method == "GET")

    # A probe generates nothing: nothing stored, nothing charged.
    assert (await client.get("/v1/generations")).json()["items"] == []
    assert (await services.ledger.usage("2000-01-01", "2999-12-31")).budget["spent_today_micros"] == 0


async def test_person_generation_is_sent_on_vertex_as_the_sdk_sends_it(vertex_services, client_for, fake_server):
    """Item 3, Vertex side: gemini-vertex keeps imageConfig.personGeneration, without a warning."""
    server, services = vertex_services
    path = f"{PROJECT_PATH}/{GEMINI}:generateContent"
    answer = load("gemini", "success", IMAGE=PNG)
    server.route("POST", path, Reply(200, answer))
    response = await client_for(services).post("/v1/generations", json={
        "prompt": "a market square", "provider": "gemini-vertex", "person_generation": "dont_allow"})
    assert response.status_code == 201, response.text
    result = response.json()

    sdk_fake = fake_server()
    sdk_fake.fallback = lambda _req: Reply(200, answer)
    sdk = genai_client(sdk_fake, vertex=True)
    sdk.models.generate_content(model=GEMINI, contents="a market square", config=genai_types.GenerateContentConfig(
        response_modalities=["IMAGE"],
        image_config=genai_types.ImageConfig(aspect_ratio="1:1", image_size="1K", person_generation="ALLOW_NONE")))
    sdk_sent, sent = last(sdk_fake), last(server)
    assert (sent.path, sent.json()) == (sdk_sent.path, sdk_sent.json())
    assert sent.json()["generationConfig"]["imageConfig"]["personGeneration"] == "ALLOW_NONE"

    assert not any("person_generation" in w for w in result["warnings"])
    assert result["images"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert result["actual_cost_micros"] == 17 + 33_600  # its usage: 11 prompt + 1120 image tokens
