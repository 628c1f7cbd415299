"""The fault matrix: one generation (and one job, one batch item) once per (port, step, kind).

A clean run lists every call the flow makes to each port (its steps). Then each step of
each port is made to `fail`, to land with its answer `lost`, or to stay `down` for the rest
of the run (tests/fakes/faults.py). After each run the ports heal, the cron runs once past
every lease, the client retries with the same Idempotency-Key, and the checks hold:
- every request terminal;
- spend (ledger and D1 alike) equals what the fake provider billed: never less, more only
  by the estimate of a call whose answer was lost (docs/budget.md);
- no reservation or slot held;
- every stored image has its row and every row's images exist;
- no paid image dropped while a retry could have kept it (a one-off fault of our own
  bindings never costs an image, nor does D1 or the ledger down for the rest of the
  request: the cron finishes it from R2), and one that was lost is said so on its row;
- the caller's answer is a typed error with the request id (503 + Retry-After for our own
  bindings), and the retry with the same key never pays twice for one provider call;
- a job or batch item: every item terminal and its batch completed (by the consumer, the
  queue's redeliveries or the cron's re-send), each item's status its generation's, the
  queue's redeliveries never pay the provider twice, and the retry after healing succeeds.

The clock's sleeps are free (tests/clocks.py `instant_sleep`): backoff, the in-process
queue's retry delays and the redeliveries cost no real time."""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Any

import httpx

from local.http import HttpxClient
from pipeline import maintenance
from pipeline.api.app import create_app
from pipeline.queued import consumer
from pipeline.providers.placeholder import render_png
from tests.clocks import clock_at
from tests.fakes.faults import KINDS, Fault, FaultPlan, FaultyHttp, faulty
from tests.fakes.fixtures import load
from tests.fakes.server import Reply

ENV = {"OPENAI_API_KEY": "sk-test-faults", "PLACEHOLDER_ENABLED": "false", "REQUEST_TIMEOUT_S": "20",
       "MAX_ATTEMPTS_PER_PROVIDER": "2"}
OURS = {"storage_unavailable", "ledger_unavailable", "queue_unavailable"}
TERMINAL = {"succeeded", "failed", "refused"}


class Provider:
    """The fake OpenAI: counts the answers it billed (every 200 with an image)."""

    def __init__(self, fake_server: Any) -> None:
        self.server = fake_server()
        self.billed = 0
        self._lock = threading.Lock()
        png = render_png(b"faults", 8, 8)
        self.server.route("POST", "/v1/images/generations", self._answer)
        self._reply = lambda: Reply(200, load("openai", "generation", IMAGE=png))

    def _answer(self, _req: Any) -> Reply:
        with self._lock:
            self.billed += 1
        return self._reply()


async def _run_flow(flow: str, make_services: Any, provider: Provider, plan: FaultPlan) -> dict[str, Any]:
    """One flow under `plan`; then heal, run the cron past every lease, retry; the facts to check."""
    clock = clock_at(instant_sleep=True)  # noon of the test day (the cron's hour later is the same day); waits are free
    raw = make_services({**ENV, "OPENAI_BASE_URL": provider.server.url}, http=FaultyHttp(HttpxClient(), plan), clock=clock)
    await raw.ledger.put_config({"daily_budget_micros": 10_000_000})
    s = faulty(raw, plan)
    raw.queue.bind(lambda messages: consumer.consume(s, messages))  # the consumer sees the faulty ports too
    billed_before = provider.billed
    body = {"prompt": f"{flow} under faults", "quality": "low"}
    headers = {"Idempotency-Key": f"k-{flow}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(s)), base_url="http://w.test") as client:
        first = await _submit(client, flow, body, headers)
        await raw.queue.run()  # queued work (job, batch item) runs now, under the faults
        plan.heal()
        clock.advance(3660)  # past every lease, the stale-request cutoff and the cron's look at open batches (1 h)
        await raw.queue.run()
        await maintenance.scheduled(raw)
        billed_first = provider.billed - billed_before
        rows_first = {r["id"]: r["status"] for r in await raw.db.all("SELECT id, status FROM generation_requests")}
        items_first = [r["status"] for r in await raw.db.all("SELECT status FROM batch_items")]
        retry = await _submit(client, flow, body, headers)
        await raw.queue.run()
        await maintenance.scheduled(raw)
        retry_view = await _view(client, flow, retry)
    rows = await raw.db.all("SELECT id, status, actual_cost_micros, estimated_cost_micros, warnings, error_code"
                            " FROM generation_requests")
    budget = (await raw.ledger.usage("2000-01-01", "2999-12-31")).budget
    images = await raw.db.all("SELECT request_id, r2_key FROM images")
    stored = {str(p.relative_to(raw.objects.root)) for p in raw.objects.root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")}
    batch_rows = await raw.db.all("SELECT id, status FROM batches")
    items = await raw.db.all("SELECT batch_id, idx, status, request_id FROM batch_items")
    return {"first": first, "retry": retry, "retry_view": retry_view, "items_first": items_first, "batches": batch_rows, "items": items,
            "rows": rows, "rows_first": rows_first, "budget": budget, "images": images,
            "stored": stored, "billed_first": billed_first, "billed": provider.billed - billed_before}


async def _submit(client: httpx.AsyncClient, flow: str, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    if flow == "generation":
        return await client.post("/v1/generations", json=body, headers=headers)
    if flow == "job":
        return await client.post("/v1/jobs", json=body, headers=headers)
    return await client.post("/v1/batches", json={"items": [body]}, headers=headers)


async def _view(client: httpx.AsyncClient, flow: str, response: httpx.Response) -> dict[str, Any] | None:
    """The job or batch the retry answered with, as its caller polls it."""
    if flow == "generation" or response.status_code != 202:
        return None
    return (await client.get(f"/v1/{'jobs' if flow == 'job' else 'batches'}/{response.json()['id']}")).json()


def _violations(flow: str, fault: Fault | None, facts: dict[str, Any], plan: FaultPlan, unit: int) -> list[str]:
    out = []
    rows, budget = facts["rows"], facts["budget"]
    lost_answers = sum(1 for p, _, k in plan.fired if p == "http" and k == "lost")
    if any(r["status"] not in TERMINAL for r in rows):
        out.append(f"not terminal: {[r['status'] for r in rows]}")
    d1_spent = sum(r["actual_cost_micros"] or 0 for r in rows)
    billed = facts["billed"] * unit
    estimate = max([r["estimated_cost_micros"] or 0 for r in rows] or [0])
    abandoned = sum(1 for r in rows if r["error_code"] == "abandoned")
    spent = budget["spent_today_micros"]
    if spent != d1_spent:
        out.append(f"ledger spent {spent} != D1 {d1_spent}")
    if spent < billed:
        out.append(f"spent {spent} < billed {billed}")
    if spent > billed + estimate * (lost_answers + abandoned):
        out.append(f"spent {spent} > billed {billed} + estimate {estimate} x {lost_answers + abandoned}")
    if budget["reserved_now_micros"] or budget["slots_in_use"]:
        out.append(f"held: reserved {budget['reserved_now_micros']} slots {budget['slots_in_use']}")
    keys = {i["r2_key"] for i in facts["images"]}
    if keys != facts["stored"]:
        out.append(f"images/rows differ: rows only {sorted(keys - facts['stored'])} objects only {sorted(facts['stored'] - keys)}")
    said_lost = sum(1 for r in rows if "could not be stored" in (r["warnings"] or ""))
    if len(keys) + said_lost + lost_answers + abandoned < facts["billed"]:
        out.append(f"paid images dropped silently: billed {facts['billed']}, stored {len(keys)}")
    if fault is not None and _keeps_images(fault) and facts["billed_first"] and not _kept(facts):
        out.append(f"a {fault.port} {fault.kind} fault lost a paid image: billed {facts['billed_first']}, stored {len(keys)}")
    out += _answer_violations(flow, facts)
    if flow != "generation":
        out += _queued_violations(fault, facts, lost_answers)
    return out


def _queued_violations(fault: Fault | None, facts: dict[str, Any], lost_answers: int) -> list[str]:
    """A job or batch item: its rows end terminal and agree with each other and with the
    generation; the queue's redeliveries never pay a provider twice; the retry completes."""
    out = []
    statuses = {r["id"]: r["status"] for r in facts["rows"]}
    if any(b["status"] != "completed" for b in facts["batches"]):
        out.append(f"batch not completed: {[b['status'] for b in facts['batches']]}")
    for item in facts["items"]:
        if item["status"] not in TERMINAL:
            out.append(f"item {item['batch_id']}.{item['idx']} left {item['status']}")
        elif item["request_id"] and statuses.get(item["request_id"]) != item["status"]:
            out.append(f"item {item['status']} but its generation {statuses.get(item['request_id'])}")
    if fault is not None and fault.kind != "down" and fault.port != "http" and facts["items_first"] != ["succeeded"]:
        # a one-off failure of our own bindings is retried (storage, the send, the queue's redelivery)
        out.append(f"a one-off {fault.port} fault ended the item {facts['items_first']}")
    if facts["billed_first"] > 1 + lost_answers:
        out.append(f"the queue's redeliveries paid the provider {facts['billed_first']} times for one item")
    view = facts["retry_view"]
    if view is not None:
        done = [view["status"]] if "total" not in view else [i["status"] for i in view["items"]]
        if done != ["succeeded"]:
            out.append(f"the retry after healing ended {done}")
    return out


def _keeps_images(fault: Fault) -> bool:
    """Faults after which every paid image must survive: any one-off fault of our own bindings,
    and D1 or the ledger down for the rest of the request (the cron finishes it from the
    objects in R2: pipeline/recovery.py). Only R2 itself down loses them (said so on the row)."""
    return fault.port != "http" and not (fault.port == "objects" and fault.kind == "down")


def _kept(facts: dict[str, Any]) -> bool:
    """Every billed call of the first run has its image stored (one image per call)."""
    first_ids = set(facts["rows_first"])
    return sum(1 for i in facts["images"] if i["request_id"] in first_ids) >= facts["billed_first"]


def _answer_violations(flow: str, facts: dict[str, Any]) -> list[str]:
    out = []
    first, retry = facts["first"], facts["retry"]
    for name, response in (("first", first), ("retry", retry)):
        if response.status_code >= 400:
            error = response.json().get("error", {})
            if error.get("code") == "internal_error":
                out.append(f"{name}: internal_error {error.get('message')}")
            if error.get("code") in OURS and (response.status_code != 503 or "retry-after" not in response.headers):
                out.append(f"{name}: {error.get('code')} without 503 + Retry-After")
            if flow == "generation" and facts["rows_first"] and "request_id" not in error.get("details", {}):
                out.append(f"{name}: {error.get('code')} without request_id")
    if "succeeded" in facts["rows_first"].values() and facts["billed"] != facts["billed_first"]:
        out.append("the retry with the same key paid again for a generation that had succeeded")
    if retry.status_code >= 400 and retry.status_code != 409:
        out.append(f"the retry after healing failed: {retry.status_code} {retry.text[:200]}")
    return out


async def _matrix(flow: str, make_services: Any, fake_server: Any) -> tuple[Counter, list[str]]:
    provider = Provider(fake_server)
    clean = FaultPlan()
    facts = await _run_flow(flow, make_services, provider, clean)
    unit = facts["budget"]["spent_today_micros"] // max(1, facts["billed"])
    assert facts["billed"] == 1 and unit > 0 and facts["first"].status_code in (201, 202), facts["first"].text
    problems = [f"clean: {v}" for v in _violations(flow, None, facts, clean, unit)]
    steps = Counter(port for port, _ in clean.calls)
    runs: Counter = Counter()
    only = os.environ.get("FAULT_ONLY")  # e.g. "objects#1.lost": one cell, to debug it
    for port, count in sorted(steps.items()):
        for nth in range(1, count + 1):
            method = clean.calls[[i for i, (p, _) in enumerate(clean.calls) if p == port][nth - 1]][1]
            for kind in KINDS:
                if only and only != f"{port}#{nth}.{kind}":
                    continue
                fault = Fault(port, nth, kind)
                plan = FaultPlan([fault])
                facts = await _run_flow(flow, make_services, provider, plan)
                runs[port] += 1
                problems += [f"{port}#{nth}.{method} {kind}: {v}" for v in _violations(flow, fault, facts, plan, unit)]
    print(f"\nfault matrix [{flow}]: {sum(runs.values())} runs; steps per port {dict(steps)}; runs per port {dict(runs)}")
    return runs, problems


async def test_one_generation_under_every_fault(make_services, fake_server):
    runs, problems = await _matrix("generation", make_services, fake_server)
    assert problems == [], "\n".join(problems)
    assert runs["db"] and runs["objects"] and runs["ledger"] and runs["http"] or os.environ.get("FAULT_ONLY")


async def test_one_job_under_every_fault(make_services, fake_server):
    runs, problems = await _matrix("job", make_services, fake_server)
    assert problems == [], "\n".join(problems)
    assert runs["queue"] and runs["objects"] or os.environ.get("FAULT_ONLY")


async def test_one_batch_item_under_every_fault(make_services, fake_server):
    runs, problems = await _matrix("batch", make_services, fake_server)
    assert problems == [], "\n".join(problems)
    assert runs["queue"] and runs["objects"] or os.environ.get("FAULT_ONLY")
