"""A paid result whose D1 record never landed is finished by the cron from R2.

The provider answered (and billed), the image reached R2, then D1 went down for the rest
of the request: the success batch and even the failure went unrecorded. The cron (past
the lease) records the image from its object's metadata and marks the request
`succeeded`, charged exactly; a same-key retry replays it. Objects whose metadata is
incomplete or does not match are abandoned and removed as before."""

from __future__ import annotations

from dataclasses import replace
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.objects import FolderObjectStore
from pipeline import maintenance, recovery
from pipeline.api.app import create_app
from pipeline.ids import new_id
from pipeline.providers.base import GeneratedImage
from pipeline.providers.placeholder import render_png
from pipeline.storage import images
from pipeline.storage.store import Attempt, Store
from pipeline.ledger_messages import SlotRequest
from tests.fakes.ledger import req
from tests.fakes.faults import Fault, FaultPlan, faulty
from tests.fakes.openai import OPENAI_ENV, openai_success
from tests.fakes.server import Reply

PNG = render_png(b"paid", 16, 16)
LINK = {"entity_type": "character", "entity_id": "c-1", "role": "portrait"}
BODY = {"prompt": "a lighthouse at dusk", "quality": "low", "links": [LINK]}


class Run:
    """One generation over services whose ports follow `plan`; the OpenAI fake counts calls."""

    def __init__(self, make_services: Any, url: str, plan: FaultPlan) -> None:
        self.raw = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": url})
        self.plan = plan
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(faulty(self.raw, plan))),
                                        base_url="http://w.test")

    async def generate(self, key: str = "k-paid") -> httpx.Response:
        return await self.client.post("/v1/generations", json=BODY, headers={"Idempotency-Key": key})

    async def cron_past_the_lease(self) -> dict[str, Any]:
        self.plan.heal()
        self.raw.clock.advance(3600)
        return await maintenance.scheduled(self.raw)

    async def money(self) -> dict[str, int]:
        budget = (await self.raw.ledger.usage("2000-01-01", "2999-12-31")).budget
        d1 = await self.raw.db.first("SELECT COALESCE(SUM(actual_cost_micros), 0) AS n FROM generation_requests")
        usage = await self.raw.db.first("SELECT COALESCE(SUM(cost_micros), 0) AS n FROM usage_events")
        return {"ledger": budget["spent_today_micros"], "d1": d1["n"], "usage_events": usage["n"],
                "reserved": budget["reserved_now_micros"], "slots": budget["slots_in_use"]}

    def object_keys(self) -> set[str]:
        root = Path(self.raw.objects.root)
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")}


@pytest.fixture
def paid_openai(fake_server):
    server = fake_server()
    server.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))
    return server


async def _step_of_success_batch(make_services, url: str) -> tuple[int, int]:
    """(the db call that is the success batch, what one call is billed), from a clean run."""
    clean = FaultPlan()
    run = Run(make_services, url, clean)
    response = await run.generate("k-clean")
    assert response.status_code == 201, response.text
    db_calls = [method for port, method in clean.calls if port == "db"]
    return db_calls.index("batch") + 1, response.json()["actual_cost_micros"]


async def test_d1_down_after_the_puts_the_cron_finishes_the_request_from_r2(make_services, paid_openai):
    step, billed = await _step_of_success_batch(make_services, paid_openai.url)
    run = Run(make_services, paid_openai.url, FaultPlan([Fault("db", step, "down")]))
    first = await run.generate()
    assert first.status_code == 503 and first.headers["retry-after"]
    error = first.json()["error"]
    assert error["code"] == "storage_unavailable" and error["retryable"] is True
    request_id = error["details"]["request_id"]
    calls = len(paid_openai.received)
    assert len(run.object_keys()) == 1  # the paid image is in R2; D1 has nothing of it

    run.plan.heal()
    early = await run.generate()  # before the cron: the row is still `running`
    assert early.status_code == 409

    await run.cron_past_the_lease()
    result = (await run.client.get(f"/v1/generations/{request_id}")).json()
    assert result["status"] == "succeeded" and result["error"] is None
    assert recovery.RECOVERED in result["warnings"]
    assert len(result["images"]) == 1 and result["actual_cost_micros"] == billed
    image_id = result["images"][0]["id"]
    served = await run.client.get(f"/v1/images/{image_id}")
    assert served.status_code == 200 and served.content == PNG and served.headers["content-type"] == "image/png"

    row = await run.raw.db.first("SELECT * FROM images WHERE id = ?", (image_id,))
    assert row["request_id"] == request_id and row["idx"] == 0 and row["byte_size"] == len(PNG)
    assert row["approval_status"] == run.raw.settings.approval_default and row["provider"] == "openai"
    linked = (await run.client.get("/v1/entities/character/c-1/images")).json()
    assert [i["id"] for i in linked["images"]] == [image_id] and linked["images"][0]["role"] == "portrait"

    # D1's spend is the ledger's is what the provider billed; nothing held; reconcile agrees
    assert await run.money() == {"ledger": billed, "d1": billed, "usage_events": billed, "reserved": 0, "slots": 0}
    again = await maintenance.scheduled(run.raw)
    assert again["reconciled"] == 0 and again["stale_requests"] == 0
    assert (await run.money())["ledger"] == billed

    replay = await run.generate()
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == request_id and [i["id"] for i in replay.json()["images"]] == [image_id]
    assert len(paid_openai.received) == calls  # no second provider call, no second charge
    assert (await run.money())["ledger"] == billed


async def test_d1_back_in_time_to_mark_the_failure_still_keeps_the_paid_image(make_services, paid_openai):
    """Only the success batch fails (every try); D1 answers again for the failure record. The
    request is not marked failed and its image not deleted: the cron records it."""
    _, billed = await _step_of_success_batch(make_services, paid_openai.url)
    run = Run(make_services, paid_openai.url, FaultPlan([Fault("db", 1, "down", "batch")]))  # the success batch
    first = await run.generate()
    error = first.json()["error"]
    assert first.status_code == 503 and error["code"] == "storage_unavailable"
    assert error["details"]["images_kept_for_recovery"] == 1 and "billed_images_lost" not in error["details"]
    request_id = error["details"]["request_id"]
    assert ("db", "run", "down") not in run.plan.fired  # the single-statement writes went through
    row = await run.raw.db.first("SELECT status FROM generation_requests WHERE id = ?", (request_id,))
    assert row["status"] == "running" and len(run.object_keys()) == 1  # left for the cron, image kept

    await run.cron_past_the_lease()
    result = (await run.client.get(f"/v1/generations/{request_id}")).json()
    assert result["status"] == "succeeded" and len(result["images"]) == 1 and result["actual_cost_micros"] == billed
    assert await run.money() == {"ledger": billed, "d1": billed, "usage_events": billed, "reserved": 0, "slots": 0}
    replay = await run.generate()
    assert replay.status_code == 200 and replay.json()["id"] == request_id


async def test_d1_and_the_ledger_down_the_cron_charges_the_estimate_rule(make_services, paid_openai):
    step, billed = await _step_of_success_batch(make_services, paid_openai.url)
    # D1 down at the success batch; the ledger down from its settle (its call #2) on
    run = Run(make_services, paid_openai.url, FaultPlan([Fault("db", step, "down"), Fault("ledger", 2, "down")]))
    first = await run.generate()
    assert first.status_code == 503
    request_id = first.json()["error"]["details"]["request_id"]

    await run.cron_past_the_lease()
    row = await run.raw.db.first("SELECT status, estimated_cost_micros, actual_cost_micros FROM generation_requests"
                                 " WHERE id = ?", (request_id,))
    # never settled: the estimate of the call in flight (no attempt recorded), never less than billed
    assert row["status"] == "succeeded" and row["actual_cost_micros"] == row["estimated_cost_micros"] >= billed
    charge = row["actual_cost_micros"]
    assert await run.money() == {"ledger": charge, "d1": charge, "usage_events": charge, "reserved": 0, "slots": 0}
    assert run.object_keys() == {r["r2_key"] for r in await run.raw.db.all("SELECT r2_key FROM images")}


def _tamper_metadata(field: str, value: str | None):
    def tamper(meta: dict[str, Any], path: Path) -> None:
        if value is None:
            meta["metadata"].pop(field)
        else:
            meta["metadata"][field] = value
    return tamper


def _tamper_bytes(meta: dict[str, Any], path: Path) -> None:
    path.write_bytes(render_png(b"not what was paid for", 16, 16))


TAMPERS = {
    "no image id": _tamper_metadata("image_id", None),
    "no version": _tamper_metadata("v", None),
    "another hash": _tamper_metadata("sha256", "0" * 64),
    "another size": _tamper_metadata("byte_size", "12"),
    "another request": _tamper_metadata("request_id", "gen_someone_else"),
    "another index": _tamper_metadata("idx", "1"),
    "another content type": _tamper_metadata("content_type", "image/jpeg"),
    "bad width": _tamper_metadata("width", "wide"),
    "bytes changed": _tamper_bytes,
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
async def test_an_object_that_does_not_match_its_metadata_is_abandoned_as_before(make_services, paid_openai, tamper):
    step, billed = await _step_of_success_batch(make_services, paid_openai.url)
    run = Run(make_services, paid_openai.url, FaultPlan([Fault("db", step, "down")]))
    first = await run.generate()
    request_id = first.json()["error"]["details"]["request_id"]
    (key,) = run.object_keys()
    path = Path(run.raw.objects.root) / key
    meta_path = path.with_name(path.name + ".meta.json")
    meta = json.loads(meta_path.read_text())
    TAMPERS[tamper](meta, path)
    meta_path.write_text(json.dumps(meta))

    await run.cron_past_the_lease()
    row = await run.raw.db.first("SELECT status, error_code, actual_cost_micros FROM generation_requests WHERE id = ?",
                                 (request_id,))
    assert row == {"status": "failed", "error_code": "abandoned", "actual_cost_micros": billed}  # the ledger's settle
    assert run.object_keys() == set() and await run.raw.db.all("SELECT id FROM images") == []
    assert await run.money() == {"ledger": billed, "d1": billed, "usage_events": 0, "reserved": 0, "slots": 0}


async def _dead_running_request(services, n: int) -> str:
    """A request whose process died while `running`, its reservation still held."""
    store = Store(services.db, services.clock)
    rid = new_id("gen", services.clock.now())
    await store.create_request(rid, caller="app", kind="generate", prompt="p", params={}, requested_provider=None,
                               n=n, links=[LINK], idempotency_key=None, request_hash="h")
    await store.mark_running(rid, provider="openai", model="gpt-image-1", size="1024x1024", quality="low",
                             estimate_micros=11_545, warnings=["a warning of the plan"])
    await services.ledger.reserve(replace(req(rid, 11_545, images=n), slot=SlotRequest("openai", 0)))
    return rid


async def test_a_dead_request_with_some_images_stored_succeeds_with_those(make_services):
    services = make_services(OPENAI_ENV)
    rid = await _dead_running_request(services, n=2)
    # the process died after the first of two images reached R2
    row = await images.put_image(services.objects, GeneratedImage(PNG, "image/png", 16, 16), request_id=rid, index=0,
                                 provider="openai", model="gpt-image-1", when=services.clock.now())
    assert await maintenance.recover_after_restart(services) == {"stale_requests": 1, "recovered_slots": 1}
    final = await Store(services.db, services.clock).get_request(rid)
    assert final["status"] == "succeeded" and final["actual_cost_micros"] == 11_545  # the estimate rule
    assert final["warnings"] == ["a warning of the plan", recovery.RECOVERED,
                                 "1 of 2 images could be recovered; the others were not stored"]
    assert [(i["id"], i["r2_key"], i["width"], i["sha256"]) for i in final["images"]] == [
        (row.id, row.r2_key, 16, row.sha256)]
    assert [a["outcome"] for a in final["attempts"]] == ["succeeded"] and final["attempts"][0]["cost_micros"] == 11_545
    links = await services.db.all("SELECT image_id, role FROM entity_links")
    assert links == [{"image_id": row.id, "role": "portrait"}]
    budget = (await services.ledger.usage("2000-01-01", "2999-12-31")).budget
    assert budget["spent_today_micros"] == 11_545 and budget["reserved_now_micros"] == 0 and budget["slots_in_use"] == 0


async def test_a_good_object_is_kept_and_a_tampered_one_removed(make_services):
    services = make_services(OPENAI_ENV)
    rid = await _dead_running_request(services, n=2)
    when = services.clock.now()
    good = await images.put_image(services.objects, GeneratedImage(PNG, "image/png"), request_id=rid, index=0,
                                  provider="openai", model="gpt-image-1", when=when)
    bad = images.image_row(GeneratedImage(PNG, "image/png"), request_id=rid, index=1, provider="openai",
                           model="gpt-image-1", when=when)
    await services.objects.put(bad.r2_key, PNG, "image/png", {**images.row_metadata(bad), "sha256": "f" * 64})
    await maintenance.recover_after_restart(services)
    rows = await services.db.all("SELECT id, r2_key FROM images")
    assert rows == [{"id": good.id, "r2_key": good.r2_key}]
    assert await services.objects.get(bad.r2_key) is None and await services.objects.get(good.r2_key) is not None


async def test_the_recovery_batch_writes_nothing_once_the_request_is_terminal(make_services):
    services = make_services(OPENAI_ENV)
    rid = await _dead_running_request(services, n=1)
    store = Store(services.db, services.clock)
    await store.finish_unsuccessfully(rid, status="failed", error={"code": "provider_timeout", "message": "late"})
    row = images.image_row(GeneratedImage(PNG, "image/png"), request_id=rid, index=0, provider="openai",
                           model="gpt-image-1", when=services.clock.now())
    await store.succeed(rid, images=[row], attempt=Attempt(rid, "openai", "gpt-image-1", 1, "succeeded", images=1),
                        provider="openai", model="gpt-image-1", size=None, actual_micros=1, warnings=[],
                        links=[LINK], only_if_open=True)
    final = await store.get_request(rid)
    assert final["status"] == "failed" and final["images"] == [] and final["attempts"] == []
    assert await services.db.all("SELECT * FROM entity_links") == []


async def test_the_row_travels_in_the_object_metadata_within_the_limit(tmp_path, clock):
    objects = FolderObjectStore(tmp_path)
    image = GeneratedImage(PNG, "image/png", 1536, 1024)
    row = images.image_row(image, request_id=new_id("gen", clock.now()), index=3, provider="vertex",
                           model="imagen-4.0-ultra-generate-001", when=clock.now())
    await images.put_row(objects, image, row)
    stored = await objects.get(row.r2_key)
    assert stored.metadata == images.row_metadata(row)
    assert images.metadata_bytes(stored.metadata) < images.METADATA_LIMIT // 3
    assert images.row_from_object(row.r2_key, row.request_id, 3, stored) == row
    # a row too large for R2's metadata keeps only the minimum, and is not recoverable
    huge = images.image_row(image, request_id=row.request_id, index=0, provider="openai", model="m" * 3000,
                            when=clock.now())
    assert images.row_metadata(huge) == {"request_id": huge.request_id, "sha256": huge.sha256}


async def test_r2_failing_during_the_cron_defers_the_request_instead_of_abandoning_it(make_services, paid_openai):
    step, billed = await _step_of_success_batch(make_services, paid_openai.url)
    run = Run(make_services, paid_openai.url, FaultPlan([Fault("db", step, "down")]))
    request_id = (await run.generate()).json()["error"]["details"]["request_id"]
    run.plan.heal()
    run.raw.clock.advance(3600)
    r2_down = FaultPlan([Fault("objects", 1, "down")])
    await maintenance.scheduled(faulty(run.raw, r2_down))
    assert r2_down.fired  # the cron tried to read the objects, and could not
    row = await run.raw.db.first("SELECT status FROM generation_requests WHERE id = ?", (request_id,))
    assert row["status"] == "running" and len(run.object_keys()) == 1  # nothing abandoned, nothing removed

    await maintenance.scheduled(run.raw)  # R2 is back
    result = (await run.client.get(f"/v1/generations/{request_id}")).json()
    assert result["status"] == "succeeded" and len(result["images"]) == 1
    assert await run.money() == {"ledger": billed, "d1": billed, "usage_events": billed, "reserved": 0, "slots": 0}
