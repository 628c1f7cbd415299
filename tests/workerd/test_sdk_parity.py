"""Issue 17's wire fixes in real workerd: the Vertex probe's path, and the OpenAI-compatible
door's Retry-After / retry-after-ms and safety_identifier (through workers.asgi and js.fetch)."""

from __future__ import annotations

from pipeline.providers.placeholder import render_png
from pipeline.generation.prepare import safety_identifier
from tests.fakes.fixtures import FIXTURES, load
from tests.fakes.server import Received, Reply

PNG = render_png(b"parity-workerd", 32, 32)
IMAGEN = "imagen-4.0-fast-generate-001"


def _publisher_model(req: Received) -> Reply:
    model = req.path.rsplit("/", 1)[-1]
    return Reply(200, (FIXTURES / "vertex" / "publisher_model.json").read_text().replace("__MODEL__", model),
                 headers={"Content-Type": "application/json"})


def test_the_vertex_probe_gets_the_publisher_model(http, fakes):
    fakes.vertex.route("GET", f"/v1/publishers/google/models/{IMAGEN}", _publisher_model)
    providers = {p["name"]: p for p in http.get("/v1/providers", params={"probe": "true"}).json()["providers"]}
    assert providers["imagen"]["probe"]["ok"] is True, providers["imagen"]["probe"]
    gets = [r for r in fakes.vertex.received if r.method == "GET"]
    assert [r.path for r in gets] == [f"/v1/publishers/google/models/{IMAGEN}"]
    assert gets[0].headers["authorization"].startswith("Bearer ")


def test_the_openai_door_keeps_retry_after_ms_and_sends_the_callers_hash(http, fakes):
    limited = Reply(429, load("openai", "rate_limited"), headers={"retry-after-ms": "2500", "retry-after": "3"})
    fakes.openai.route("POST", "/v1/images/generations", limited)
    refused = http.post("/v1/images/generations", json={"prompt": "a fox", "model": "openai", "quality": "low"})
    assert refused.status_code == 429, refused.text
    assert (refused.headers["retry-after-ms"], refused.headers["retry-after"]) == ("2500", "3")
    caller = http.get(f"/v1/generations/{refused.json()['error']['details']['request_id']}").json()["caller"]
    assert fakes.openai.received[-1].json()["safety_identifier"] == safety_identifier(caller)
