"""A client that retries `POST /v1/jobs` or `POST /v1/batches` with the same Idempotency-Key
after one of our bindings failed gets the stored result: one provider call, charged once.

The fault: D1 goes down right after the generation was paid for, stored and settled, when
the consumer records the item (its message is retried until the queue gives up, so the
item stays `running`). After D1 heals, the client retries; the new job's item replays the
stored generation, and the cron's re-send finishes the first job with the same result."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from local.http import HttpxClient
from pipeline import maintenance
from pipeline.api.app import create_app
from pipeline.queued import consumer
from pipeline.providers.placeholder import render_png
from tests.clocks import clock_at
from tests.fakes.faults import Fault, FaultPlan, FaultyHttp, faulty
from tests.fakes.fixtures import load
from tests.fakes.server import Reply

ENV = {"OPENAI_API_KEY": "sk-test-retry", "PLACEHOLDER_ENABLED": "false", "MAX_ATTEMPTS_PER_PROVIDER": "2"}


def _openai(fake_server: Any) -> tuple[Any, list[int]]:
    server, billed = fake_server(), []
    png = render_png(b"retry", 8, 8)

    def answer(_req: Any) -> Reply:
        billed.append(1)
        return Reply(200, load("openai", "generation", IMAGE=png))

    server.route("POST", "/v1/images/generations", answer)
    return server, billed


async def _run(flow: str, make_services: Any, fake_server: Any, fault: Fault | None) -> dict[str, Any]:
    server, billed = _openai(fake_server)
    clock = clock_at(instant_sleep=True)
    plan = FaultPlan([fault] if fault else [])
    raw = make_services({**ENV, "OPENAI_BASE_URL": server.url}, http=FaultyHttp(HttpxClient(), plan), clock=clock)
    await raw.ledger.put_config({"daily_budget_micros": 10_000_000})
    s = faulty(raw, plan)
    raw.queue.bind(lambda messages: consumer.consume(s, messages))
    path = "/v1/jobs" if flow == "job" else "/v1/batches"
    body: dict[str, Any] = {"prompt": "the lighthouse", "quality": "low"}
    payload = body if flow == "job" else {"items": [body]}
    headers = {"Idempotency-Key": f"retry-{flow}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(s)), base_url="http://w.test") as client:
        first = await client.post(path, json=payload, headers=headers)
        await raw.queue.run()
        plan.heal()
        retry = await client.post(path, json=payload, headers=headers)
        await raw.queue.run()
        clock.advance(2 * 3600)  # past the cron's look at open batches
        await maintenance.scheduled(raw)
        await raw.queue.run()
        views = [(await client.get(f"{path}/{r.json()['id']}")).json() for r in (first, retry)]
    rows = await raw.db.all("SELECT id, status, actual_cost_micros FROM generation_requests")
    budget = (await raw.ledger.usage("2000-01-01", "2999-12-31")).budget
    return {"first": first, "retry": retry, "views": views, "rows": rows, "budget": budget, "billed": len(billed),
            "fired": plan.fired, "calls": list(plan.calls)}


def _first_db_call_after_settle(calls: list[tuple[str, str]]) -> int:
    """The nth D1 call of a clean run that comes right after the ledger's settle."""
    settled = calls.index(("ledger", "settle"))
    return sum(1 for port, _ in calls[:settled] if port == "db") + 1


def _request_ids(flow: str, view: dict[str, Any]) -> list[str | None]:
    return [view["request_id"]] if flow == "job" else [i["request_id"] for i in view["items"]]


def _statuses(flow: str, view: dict[str, Any]) -> list[str]:
    return [view["status"]] if flow == "job" else [i["status"] for i in view["items"]]


@pytest.mark.parametrize("flow", ["job", "batch"])
async def test_a_retry_with_the_same_key_after_a_d1_fault_pays_once(flow, make_services, fake_server):
    clean = await _run(flow, make_services, fake_server, None)
    unit = clean["budget"]["spent_today_micros"]
    assert clean["billed"] == 1 and unit > 0

    facts = await _run(flow, make_services, fake_server, Fault("db", _first_db_call_after_settle(clean["calls"]), "down"))
    assert facts["fired"] and facts["fired"][0][:2] == ("db", "run")  # the consumer's record of the item
    assert facts["first"].status_code == 202 and facts["retry"].status_code == 202
    first, retry = facts["views"]
    # both the first job (finished by the cron's re-send) and the retry show the one paid generation
    assert _statuses(flow, first) == _statuses(flow, retry) == ["succeeded"]
    assert _request_ids(flow, first) == _request_ids(flow, retry)
    assert facts["billed"] == 1
    assert [r["status"] for r in facts["rows"]] == ["succeeded"]
    assert facts["budget"]["spent_today_micros"] == unit == facts["rows"][0]["actual_cost_micros"]
    assert facts["budget"]["reserved_now_micros"] == 0 and facts["budget"]["slots_in_use"] == 0
