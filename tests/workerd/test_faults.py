"""Our own bindings failing mid-generation in real workerd: an R2 put, a D1 batch, a
Durable Object (ledger) call and a Queue send, through the host's test-only fault hook
(src/pipeline/runtime/fault_hook.py), with the checks of the CPython fault matrix
(tests/faults/test_matrix.py): the request terminal, spend equal to what the fake
provider billed, nothing held, images and rows agreeing, a typed 503 with the request
id for our own failures, and a same-key retry that never pays twice.

The injected failure is a JS Error rejected where the binding call would have been,
so the Worker meets it the way it meets a real binding's failure. The hook is off in
the two other sessions, as in production: the last tests prove it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.fakes.openai import openai_success
from tests.fakes.polling import until
from tests.fakes.server import Reply
from tests.workerd import harness
from tests.workerd.conftest import AUTH, PNG

BODY = {"provider": "openai", "quality": "low", "size": "1024x1024"}
OURS = {"storage_unavailable", "ledger_unavailable", "queue_unavailable"}


class Run:
    """One flow on the fault session: the plan set, the first answer, healing, the cron, the retry."""

    def __init__(self, session: harness.Workerd, fakes: Any) -> None:
        self.session, self.fakes = session, fakes
        self.http = httpx.Client(base_url=session.url, headers=AUTH, timeout=90)
        fakes.openai.route("POST", "/v1/images/generations", Reply(200, openai_success(PNG)))

    def plan(self, *faults: dict[str, Any]) -> None:
        answer = self.http.put(harness.FAULT_HOOK_PATH, json={"faults": list(faults)})
        assert answer.status_code == 200, answer.text

    def hook(self) -> dict[str, Any]:
        return self.http.get(harness.FAULT_HOOK_PATH).json()

    def heal(self) -> None:
        self.http.delete(harness.FAULT_HOOK_PATH).raise_for_status()

    def today(self) -> dict[str, Any]:
        return self.http.get("/v1/budget").json()["today"]

    def billed(self) -> int:
        return len(self.fakes.openai.received)

    def cron(self) -> None:
        answer = httpx.get(f"{self.session.url}/cdn-cgi/local/scheduled", params={"cron": "*/5 * * * *"}, timeout=90)
        assert answer.status_code == 200, answer.text


@pytest.fixture
def run(faulty, fakes):
    r = Run(faulty, fakes)
    yield r
    r.http.close()


def _generate(run: Run, key: str, prompt: str) -> httpx.Response:
    return run.http.post("/v1/generations", json=BODY | {"prompt": prompt}, headers={"Idempotency-Key": key})


def _request_id(answer: httpx.Response) -> str:
    body = answer.json()
    return body["id"] if answer.status_code < 400 else body["error"]["details"]["request_id"]


def _check(run: Run, request_id: str, before: dict[str, Any], billed_before: int, unit: int) -> dict[str, Any]:
    """The matrix's checks for one request; its row."""
    row = run.http.get(f"/v1/generations/{request_id}").json()
    assert row["status"] in ("succeeded", "failed", "refused"), row
    billed = run.billed() - billed_before
    today = run.today()
    assert today["spent_today_micros"] - before["spent_today_micros"] == billed * unit == row["actual_cost_micros"], \
        (today, billed, row["actual_cost_micros"])
    assert today["reserved_now_micros"] == 0 and today["slots_in_use"] == 0, today
    stored = [k for k in run.hook()["objects"] if f"/{request_id}/" in k]
    assert len(stored) == len(row["images"]), (stored, row["images"])
    for image in row["images"]:
        assert run.http.get(f"/v1/images/{image['id']}").status_code == 200
    if billed and not row["images"]:
        assert any("could not be stored" in w for w in row["warnings"]), row  # lost, and said so
    return row


def _clean_unit(run: Run) -> tuple[int, list[list[str]]]:
    """One clean generation: what one provider call costs, and the calls it made to each port."""
    run.plan()
    answer = _generate(run, f"wd-clean-{uuid.uuid4().hex}", "clean")
    assert answer.status_code == 201, answer.text
    return answer.json()["actual_cost_micros"], run.hook()["calls"]


def _nth_of(calls: list[list[str]], port: str, method: str, which: int) -> int:
    """The 1-based position of a call among its method's calls (`which` -1: the last)."""
    count = sum(1 for c in calls if c == [port, method])
    assert count, f"a clean generation makes no {port}.{method} call: {calls}"
    return count if which == -1 else which


CASES = [
    # (id, fault, what the first answer is, whether the paid image is kept)
    ("r2-put-fails-once", ("objects", "put", 1, "fail"), 201, True),
    ("r2-put-lands-answer-lost", ("objects", "put", 1, "lost"), 201, True),
    ("r2-down", ("objects", "put", 1, "down"), "storage_unavailable", False),
    ("d1-success-batch-fails-once", ("db", "batch", -1, "fail"), 201, True),
    ("d1-success-batch-lands-answer-lost", ("db", "batch", -1, "lost"), 201, True),
    ("ledger-reserve-fails", ("ledger", "reserve", 1, "fail"), "ledger_unavailable", None),
    # the hold and slot it made are released at once (the lease would hold them for minutes)
    ("ledger-reserve-lands-answer-lost", ("ledger", "reserve", 1, "lost"), "ledger_unavailable", None),
    ("ledger-settle-lands-answer-lost", ("ledger", "settle", 1, "lost"), 201, True),
    ("ledger-settle-down", ("ledger", "settle", 1, "down"), 201, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_binding_fails_mid_generation(run, case):
    name, (port, method, which, kind), expected, kept = case
    unit, calls = _clean_unit(run)
    before, billed_before = run.today(), run.billed()
    run.plan({"port": port, "method": method, "nth": _nth_of(calls, port, method, which), "kind": kind})
    first = _generate(run, f"wd-{name}", name)
    fired = run.hook()["fired"]
    assert [port, method, kind] in fired, fired  # the fault reached the binding call
    run.heal()
    if isinstance(expected, int):
        assert first.status_code == expected, first.text
    else:
        error = first.json()["error"]
        assert first.status_code == 503 and error["code"] == expected and error["retryable"], first.text
        assert int(first.headers["retry-after"]) > 0 and error["details"]["request_id"].startswith("gen_")
    request_id = _request_id(first)
    run.cron()
    row = _check(run, request_id, before, billed_before, unit)
    if kept:
        assert row["status"] == "succeeded" and len(row["images"]) == 1
    before_retry, billed_retry = run.today(), run.billed()
    retry = _generate(run, f"wd-{name}", name)
    assert retry.status_code in (200, 201), retry.text
    if row["status"] == "succeeded":  # a replay: the stored result, no second provider call
        assert retry.json()["id"] == request_id and run.billed() == billed_retry
    else:  # a new attempt, paid once
        assert retry.json()["id"] != request_id and run.billed() == billed_retry + 1
        _check(run, retry.json()["id"], before_retry, billed_retry, unit)


def test_d1_down_after_the_r2_put_the_cron_finishes_the_request_from_r2(run):
    """The success batch fails every try: the image stays in real R2 with its row in the
    object's custom metadata, and the cron's sweep (past the stale cutoff) records it."""
    unit, _ = _clean_unit(run)
    before, billed_before = run.today(), run.billed()
    run.plan({"port": "db", "method": "batch", "nth": 1, "kind": "down"})
    first = _generate(run, "wd-d1-down-recovered", "kept for the cron")
    run.heal()
    error = first.json()["error"]
    assert first.status_code == 503 and error["code"] == "storage_unavailable", first.text
    assert error["details"]["images_kept_for_recovery"] == 1
    request_id = error["details"]["request_id"]
    assert run.http.get(f"/v1/generations/{request_id}").json()["status"] == "running"
    assert len([k for k in run.hook()["objects"] if f"/{request_id}/" in k]) == 1
    deadline = time.monotonic() + 150  # the sweep takes it once stale: REQUEST_TIMEOUT_S + 60 s
    while run.http.get(f"/v1/generations/{request_id}").json()["status"] == "running":
        assert time.monotonic() < deadline, "the cron never finished the request"
        time.sleep(5)
        run.cron()
    row = _check(run, request_id, before, billed_before, unit)
    assert row["status"] == "succeeded" and len(row["images"]) == 1, row
    image = run.http.get(f"/v1/images/{row['images'][0]['id']}")
    assert image.status_code == 200 and image.content == PNG
    replay = _generate(run, "wd-d1-down-recovered", "kept for the cron")
    assert replay.status_code == 200 and replay.json()["id"] == request_id and run.billed() == billed_before + 1


def _job(run: Run, headers: dict[str, str]) -> dict[str, Any]:
    answer = run.http.post("/v1/jobs", json=BODY | {"prompt": "a job and the queue"}, headers=headers)
    assert answer.status_code == 202, answer.text
    return until(run.http, f"/v1/jobs/{answer.json()['id']}", lambda v: v["status"] in ("succeeded", "failed"))


def test_a_queue_send_that_fails_once_is_retried(run):
    unit, _ = _clean_unit(run)
    before, billed_before = run.today(), run.billed()
    run.plan({"port": "queue", "nth": 1, "kind": "fail"})  # the job's send_batch
    job = _job(run, {"Idempotency-Key": "wd-job-queue-once"})
    assert ["queue", "send_batch", "fail"] in run.hook()["fired"]
    run.heal()
    assert job["status"] == "succeeded", job
    row = _check(run, job["result"]["id"], before, billed_before, unit)
    assert len(row["images"]) == 1 and run.billed() == billed_before + 1


def test_a_queue_that_stays_down_refuses_the_job_and_the_same_key_runs_it_later(run):
    unit, _ = _clean_unit(run)
    before, billed_before = run.today(), run.billed()
    run.plan({"port": "queue", "nth": 1, "kind": "down"})
    headers = {"Idempotency-Key": "wd-job-queue-down"}
    first = run.http.post("/v1/jobs", json=BODY | {"prompt": "a job and the queue"}, headers=headers)
    assert ["queue", "send_batch", "down"] in run.hook()["fired"]
    run.heal()
    error = first.json()["error"]
    assert first.status_code == 503 and error["code"] == "queue_unavailable" and "retry-after" in first.headers, first.text
    assert run.billed() == billed_before  # nothing ran
    refused = run.http.get(f"/v1/jobs/{error['details']['batch_id']}").json()
    assert refused["status"] == "failed", refused  # terminal, and says why
    job = _job(run, headers)
    assert job["status"] == "succeeded", job
    run.cron()
    row = _check(run, job["result"]["id"], before, billed_before, unit)
    assert len(row["images"]) == 1 and run.billed() == billed_before + 1


def test_the_hook_is_off_unless_a_test_setting_turns_it_on(worker, http):
    """The `worker` session runs as production does: no fault hook, whatever a request says."""
    for method in ("GET", "PUT", "DELETE"):
        answer = http.request(method, harness.FAULT_HOOK_PATH, json={"faults": [{"port": "db", "nth": 1}]},
                              headers={harness.FAULT_HOOK_SETTING: "on"}, params={harness.FAULT_HOOK_SETTING: "on"})
        assert answer.status_code == 404, (method, answer.text)
    ok = http.post("/v1/generations", json={"prompt": "no faults here", "provider": "placeholder"},
                   headers={harness.FAULT_HOOK_SETTING: "on"})
    assert ok.status_code == 201, ok.text
    assert "injected" not in worker.log()
