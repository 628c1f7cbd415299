"""One answer for our own failures, on every door: R2 down after the provider answered gives
503 `storage_unavailable`, `retryable: true`, Retry-After and the request id, on the native
JSON door, its SSE stream and the OpenAI-compatible route; the row is failed, charged what
the provider billed, and says the paid image was lost. The storage retry itself: a write that
fails twice is kept; one whose answer was lost is not run twice."""

from __future__ import annotations

import json

import httpx

from pipeline import errors
from pipeline.api import rpc
from pipeline.api.app import create_app
from pipeline import retry
from tests.clocks import clock_at
from tests.fakes.faults import Fault, FaultPlan, faulty


def _client(make_services, plan: FaultPlan):
    raw = make_services()  # the local placeholder provider
    return raw, httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(faulty(raw, plan))),
                                  base_url="http://w.test")


async def _row(raw, request_id: str) -> dict:
    return await raw.db.first("SELECT status, error_code, warnings, actual_cost_micros FROM generation_requests"
                              " WHERE id = ?", (request_id,))


async def test_r2_down_is_storage_unavailable_with_the_request_id_on_every_door(make_services):
    for door in ("json", "sse", "openai"):
        raw, client = _client(make_services, FaultPlan([Fault("objects", 1, "down")]))
        async with client:
            if door == "json":
                response = await client.post("/v1/generations", json={"prompt": "a fox"})
                assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1, response.text
                error = response.json()["error"]
            elif door == "openai":
                response = await client.post("/v1/images/generations", json={"prompt": "a fox", "model": "auto"})
                assert response.status_code == 503 and "retry-after" in response.headers, response.text
                error = response.json()["error"]
            else:
                response = await client.post("/v1/generations?stream=true", json={"prompt": "a fox"})
                frames = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
                failed = frames[-1]
                error = failed["error"] | {"details": {"request_id": failed["request_id"]}}
        assert error["code"] == "storage_unavailable" and error["retryable"] is True, (door, error)
        request_id = error["details"]["request_id"]
        assert request_id and request_id.startswith("gen_"), (door, error)
        row = await _row(raw, request_id)
        assert row["status"] == "failed" and row["error_code"] == "storage_unavailable", (door, row)
        assert "could not be stored" in row["warnings"], (door, row)


async def test_a_storage_write_is_retried_and_a_landed_one_is_not_run_twice():
    clock = clock_at()
    calls = []

    async def flaky() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise errors.StorageUnavailable("R2 failed")

    await retry.durably(clock, clock.monotonic() + 5, "R2 put", flaky, request_id="gen_x",
                        policy=retry.writes_policy(0.001))
    assert len(calls) == 3

    writes = []

    async def lost() -> None:
        writes.append(1)
        raise errors.StorageUnavailable("D1 answer lost")

    async def landed() -> bool:
        return True

    await retry.durably(clock, clock.monotonic() + 5, "D1 batch", lost, request_id="gen_x",
                        policy=retry.writes_policy(0.001), landed=landed)
    assert len(writes) == 1

    always = []

    async def down() -> None:
        always.append(1)
        raise RuntimeError("D1 down")

    try:
        await retry.durably(clock, clock.monotonic() + 5, "D1 batch", down, request_id="gen_x",
                            policy=retry.writes_policy(0.001))
    except errors.StorageUnavailable as exc:
        assert exc.status == 503 and exc.retryable and exc.retry_after_s
    else:
        raise AssertionError("a binding that stays down must be given up")
    assert len(always) == retry.BINDING_WRITES.tries


# Every generation door, and every queued door, meets each of our own failures with the same
# answer: the typed code, retryable, a retry-after, and the id of what it created.
GENERATION_DOORS = ("json", "sse", "openai", "rpc", "rpc_openai")
QUEUED_DOORS = ("jobs", "batches", "rpc_job", "rpc_batch")
GENERATION_FAULTS = {
    "r2_down": (Fault("objects", 1, "down"), "storage_unavailable"),
    "ledger_reserve_fails": (Fault("ledger", 1, "fail", "reserve"), "ledger_unavailable"),
    "d1_down": (Fault("db", 1, "down"), "storage_unavailable"),
}
QUEUED_FAULTS = {
    "queue_down": (Fault("queue", 1, "down"), "queue_unavailable"),  # a one-off refusal is retried
    "d1_down": (Fault("db", 1, "down"), "storage_unavailable"),
}


async def _door_error(door: str, s, client: httpx.AsyncClient) -> tuple[dict, float | None]:
    """(the error the door answered with, its Retry-After in seconds)."""
    body = {"prompt": "a fox"}
    if door.startswith("rpc"):
        name = {"rpc": "generate", "rpc_openai": "openai_generate", "rpc_job": "create_job",
                "rpc_batch": "create_batch"}[door]
        arg = {"items": [body]} if door == "rpc_batch" else body | ({"model": "auto"} if door == "rpc_openai" else {})
        answer = await rpc.call(s, name, arg)
        assert answer["ok"] is False, answer
        return answer["error"], answer["error"].get("retry_after_s")
    if door == "sse":
        response = await client.post("/v1/generations?stream=true", json=body)
        failed = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")][-1]
        return failed["error"] | {"details": {"request_id": failed["request_id"]}}, failed["error"].get("retry_after_s")
    path, payload = {"json": ("/v1/generations", body), "openai": ("/v1/images/generations", body | {"model": "auto"}),
                     "jobs": ("/v1/jobs", body), "batches": ("/v1/batches", {"items": [body]})}[door]
    response = await client.post(path, json=payload)
    assert response.status_code == 503, (door, response.status_code, response.text)
    return response.json()["error"], float(response.headers["retry-after"])


async def _each_door(make_services, doors, faults, id_field: str) -> list[str]:
    problems = []
    for door in doors:
        for name, (fault, code) in faults.items():
            raw = make_services()
            s = faulty(raw, FaultPlan([fault]))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(s)), base_url="http://w.test") as client:
                error, retry_after = await _door_error(door, s, client)
            where = f"{door}/{name}"
            if error.get("code") != code or error.get("retryable") is not True:
                problems.append(f"{where}: {error}")
            elif not retry_after or retry_after <= 0:
                problems.append(f"{where}: no retry-after: {error}")
            elif fault.port != "db" and not str(error.get("details", {}).get(id_field, "")).startswith(("gen_", "job_", "bat_")):
                problems.append(f"{where}: no {id_field}: {error}")
    return problems


async def test_every_generation_door_answers_our_own_failures_alike(make_services):
    assert await _each_door(make_services, GENERATION_DOORS, GENERATION_FAULTS, "request_id") == []


async def test_every_queued_door_answers_our_own_failures_alike(make_services):
    assert await _each_door(make_services, QUEUED_DOORS, QUEUED_FAULTS, "batch_id") == []


async def test_a_reserve_whose_answer_was_lost_holds_nothing_afterwards(make_services):
    """The ledger reserved (a hold and a slot) and its answer was lost: the request closes
    with ledger_unavailable and releases both at once, without waiting for the lease."""
    raw = make_services()
    s = faulty(raw, FaultPlan([Fault("ledger", 1, "lost", "reserve")]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(s)), base_url="http://w.test") as client:
        response = await client.post("/v1/generations", json={"prompt": "a fox"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "ledger_unavailable"
    budget = (await raw.ledger.usage("2000-01-01", "2999-12-31")).budget
    assert budget["reserved_now_micros"] == 0 and budget["slots_in_use"] == 0, budget
    row = await _row(raw, response.json()["error"]["details"]["request_id"])
    assert row["status"] == "failed" and row["actual_cost_micros"] == 0


async def test_r2_failing_after_some_paid_images_were_stored_keeps_those(make_services):
    """Two images paid for, the first stored, then R2 gives up: the request succeeds with the
    one it kept (its row and object agree) and says the other was lost; nothing is deleted."""
    raw, client = _client(make_services, FaultPlan([Fault("objects", 2, "down", "put")]))
    async with client:
        response = await client.post("/v1/generations", json={"prompt": "two foxes", "n": 2})
    assert response.status_code == 201, response.text
    result = response.json()
    assert len(result["images"]) == 1 and any("could not be stored and were lost" in w for w in result["warnings"])
    keys = {r["r2_key"] for r in await raw.db.all("SELECT r2_key FROM images WHERE request_id = ?", (result["id"],))}
    root = raw.objects.root
    stored = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")}
    assert keys == stored and len(keys) == 1
