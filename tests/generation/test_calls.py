"""`n` is split into provider calls in one place (generation/calls.py): as many calls
as the provider's images per call and memory need, run together where the provider
allows it (`parallel_calls`, from its catalog), the images of finished calls kept
when a later one fails. Providers make one call each time they are asked."""

from __future__ import annotations

import threading

from local.workers_ai import FakeWorkersAI
from pipeline import limits
from pipeline.catalog import default_model
from pipeline.catalog import gemini as gemini_catalog
from pipeline.generation.generation import Generation
from pipeline.generation.state import Admitted
from pipeline.models import GenerationRequest
from pipeline.providers.placeholder import render_png
from tests.clocks import TODAY
from tests.fakes.fixtures import load
from tests.fakes.server import Received, Reply
from tests.fakes.vertex import service_account, token_endpoint

MODEL = default_model(gemini_catalog.CATALOG, TODAY)
GEMINI = f"/v1beta/models/{MODEL}:generateContent"
PNG = render_png(b"calls", 32, 32)
ONE_IMAGE_MICROS = 17 + 33_600  # a short prompt's tokens + 1120 image tokens at $30/1M
QUIET = {"PLACEHOLDER_ENABLED": "false", "MAX_ATTEMPTS_PER_PROVIDER": "1"}


def gemini_services(make_services, server):
    return make_services({**QUIET, "GEMINI_API_KEY": "AIza-test", "GEMINI_BASE_URL": server.url})


class GatedGemini:
    """Holds every call until `together` calls have arrived, then answers them all: calls made
    one after another never get that far (the first waits for the others, which are never
    sent, until WAIT_S passes and it answers 503). No test time is measured, so no clock is."""

    WAIT_S = 10.0  # only ever spent by a failing test

    def __init__(self, together: int) -> None:
        self.together = together
        self.arrived = 0
        self.waited_out = 0
        self._all_here = threading.Condition()

    def __call__(self, _req: Received) -> Reply:
        with self._all_here:
            self.arrived += 1
            self._all_here.notify_all()
            if not self._all_here.wait_for(lambda: self.arrived >= self.together, timeout=self.WAIT_S):
                self.waited_out += 1
                return Reply(503, {"error": {"code": 503, "message": "not all calls came", "status": "UNAVAILABLE"}})
        return Reply(200, load("gemini", "success", IMAGE=PNG))


async def test_gemini_makes_n_calls_together(make_services, fake_server):
    """All three calls are sent before the first is answered (parallel_calls in the catalog)."""
    server = fake_server()
    gate = GatedGemini(together=3)
    server.route("POST", GEMINI, gate)
    services = gemini_services(make_services, server)

    three = await Generation(services, Admitted.new(services, GenerationRequest(
        provider="gemini", prompt="three lighthouses", n=3))).result()

    assert gate.waited_out == 0 and gate.arrived == 3
    assert len(three["images"]) == 3
    assert three["actual_cost_micros"] == 3 * ONE_IMAGE_MICROS


class OneAtATime:
    """Holds each call for HOLD_S or until another call arrives beside it, and counts the calls
    that did: calls run together always overlap a held one; calls one after another never do."""

    HOLD_S = 0.3

    def __init__(self) -> None:
        self.in_flight = 0
        self.overlapped = 0
        self._changed = threading.Condition()

    def __call__(self, _req: Received) -> Reply:
        with self._changed:
            self.in_flight += 1
            self._changed.notify_all()
            if self._changed.wait_for(lambda: self.in_flight > 1, timeout=self.HOLD_S):
                self.overlapped += 1
            self.in_flight -= 1
        return Reply(200, load("gemini", "success", IMAGE=PNG))


async def test_large_images_run_one_call_at_a_time(make_services, fake_server):
    """Three 2K images together would pass what one request may hold (limits.py)."""
    server = fake_server()
    gate = OneAtATime()
    server.route("POST", GEMINI, gate)
    services = gemini_services(make_services, server)
    result = await Generation(services, Admitted.new(services, GenerationRequest(provider="gemini", prompt="big", size="2048x2048", n=2))).result()
    assert len(result["images"]) == 2
    assert gate.overlapped == 0  # the second was sent after the first came back


def test_calls_at_once_honour_the_provider_and_the_memory_limit():
    assert limits.calls_at_once("1024x1024", 1, 4) == 4  # 3 MiB each, worst case: four fit 12 MiB
    assert limits.calls_at_once("1024x1024", 1, 1) == 1  # the provider does not allow more
    assert limits.calls_at_once("1536x1024", 1, 4) == 2
    assert limits.calls_at_once("2048x2048", 1, 4) == 1  # never less than one
    assert limits.calls_at_once("1024x1024", 4, 4) == 1  # four images per call: one call fills it


async def test_calls_that_finished_are_kept_when_others_fail(make_services, fake_server):
    server = fake_server()
    server.sequence("POST", GEMINI, [Reply(200, load("gemini", "success", IMAGE=PNG)), Reply(200, load("gemini", "success", IMAGE=PNG)),
                                     Reply(503, load("gemini", "unavailable"))])
    services = gemini_services(make_services, server)
    result = await Generation(services, Admitted.new(services, GenerationRequest(provider="gemini", prompt="four please", n=4))).result()
    assert result["status"] == "succeeded" and len(result["images"]) == 2
    assert result["actual_cost_micros"] == 2 * ONE_IMAGE_MICROS  # a 503 is answered before any work: not billed
    assert "2 of 4 images made; gemini failed on the rest (provider_unavailable)" in result["warnings"]
    assert len(server.received) == 4  # the four calls ran together


async def test_imagen_splits_n_by_its_images_per_call(make_services, fake_server):
    server = fake_server()
    creds, public_key = service_account(server)
    token_endpoint(server, public_key)
    predict = "/v1/projects/proj-1/locations/europe-west4/publishers/google/models/imagen-4.0-generate-001:predict"
    server.route("POST", predict, lambda req: Reply(200, {"predictions": [
        {"bytesBase64Encoded": load("imagen", "success", IMAGE=PNG, IMAGE2=PNG)["predictions"][0]["bytesBase64Encoded"],
         "mimeType": "image/png"}] * req.json()["parameters"]["sampleCount"]}))
    services = make_services({**QUIET, "VERTEX_SERVICE_ACCOUNT_JSON": creds, "VERTEX_LOCATION": "europe-west4",
                              "VERTEX_BASE_URL": server.url})
    result = await Generation(services, Admitted.new(services, GenerationRequest(provider="imagen", prompt="five foxes", n=5,
                                                          model="imagen-4.0-generate-001"))).result()
    assert [r.json()["parameters"]["sampleCount"] for r in server.received if r.path == predict] == [4, 1]
    assert len(result["images"]) == 5 and result["actual_cost_micros"] == 5 * 40_000


async def test_workers_ai_makes_one_binding_call_per_image(make_services):
    ai = FakeWorkersAI()
    services = make_services({**QUIET}, ai=ai)
    result = await Generation(services, Admitted.new(services, GenerationRequest(provider="workers-ai", prompt="two lizards", n=2))).result()
    assert len(ai.calls) == 2 and len(result["images"]) == 2
    assert result["actual_cost_micros"] == 2 * (212 + 424) == result["estimated_cost_micros"]  # 4 tiles x 53 + 4 steps x 106, per image
