"""The cron's reconciliation of the ledger with D1's spend goes on from where it stopped:
a settle lost while the cron was down for hours is still charged, a day busier than one
run can read is read over several runs, and nothing is charged twice."""

from __future__ import annotations

import httpx

from pipeline import maintenance, spend_reconciliation
from pipeline.api.app import create_app
from pipeline.clock import iso
from pipeline.ids import new_id
from tests.fakes.faults import Fault, FaultPlan, faulty


async def _budget(s) -> dict:
    return (await s.ledger.usage("2000-01-01", "2999-12-31")).budget


async def test_a_settle_lost_while_the_cron_was_down_for_hours_is_charged(make_services):
    raw = make_services()
    await raw.ledger.put_config({"daily_budget_micros": 10_000_000})
    await maintenance.scheduled(raw)  # a pass before: the cursor is at "now"
    plan = FaultPlan([Fault("ledger", 1, "down", "settle")])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(faulty(raw, plan))),
                                 base_url="http://w.test") as client:
        answer = await client.post("/v1/generations", json={"prompt": "a fox", "provider": "placeholder",
                                                            "max_cost_per_image_micros": 1})
        assert answer.status_code == 201, answer.text
    # the placeholder is free: charge the row as a paid provider would have, for the pass to find
    request_id = answer.json()["id"]
    await raw.db.run("UPDATE generation_requests SET actual_cost_micros = 4200 WHERE id = ?", (request_id,))
    assert ("ledger", "settle", "down") in plan.fired and (await _budget(raw))["spent_today_micros"] == 0
    raw.clock.advance(5 * 3600)  # the cron was down for five hours (the lease expired meanwhile)
    await raw.ledger.sweep()
    done = await maintenance.scheduled(raw)
    assert done["reconciled"] == 1, done
    assert (await _budget(raw))["spent_today_micros"] == 4200
    again = await maintenance.scheduled(raw)
    assert again["reconciled"] == 0 and (await _budget(raw))["spent_today_micros"] == 4200


async def _costed_rows(s, count: int, micros: int) -> None:
    now = iso(s.clock.now())
    await s.db.batch([(
        "INSERT INTO generation_requests (id, caller, kind, status, prompt, n, request_hash, created_at, updated_at,"
        " completed_at, actual_cost_micros, provider, model) VALUES (?, 'bulk', 'generate', 'succeeded', 'p', 1, 'h',"
        " ?, ?, ?, ?, 'openai', 'gpt-image-1')", (new_id("gen", s.clock.now()), now, now, now, micros))
        for _ in range(count)])


async def test_a_busy_hour_is_read_over_several_runs_in_pages_and_charged_once(make_services):
    s = make_services()
    await s.ledger.put_config({"daily_budget_micros": 100_000_000})
    await _costed_rows(s, 1_250, 10)  # D1 holds spend the ledger never saw settled
    s.clock.advance(3600)  # an hour ago: the cron was down, or the hour was busy
    first = await spend_reconciliation.reconcile(s, page_rows=200, max_pages=3)
    assert (first["reconciled"], first["read"], first["caught_up"]) == (600, 600, False)
    second = await spend_reconciliation.reconcile(s, page_rows=200, max_pages=3)
    assert (second["reconciled"], second["read"], second["caught_up"]) == (600, 600, False)
    third = await spend_reconciliation.reconcile(s, page_rows=200, max_pages=3)
    assert (third["reconciled"], third["caught_up"]) == (50, True)
    assert (await _budget(s))["spent_today_micros"] == 12_500
    s.clock.advance(300)
    fourth = await spend_reconciliation.reconcile(s, page_rows=200, max_pages=3)
    assert (fourth["reconciled"], fourth["read"]) == (0, 0)  # caught up: nothing re-read past the overlap
    assert (await _budget(s))["spent_today_micros"] == 12_500


async def test_the_pass_never_reaches_back_past_what_the_ledger_keeps(make_services):
    s = make_services()
    await s.ledger.put_config({"keep_days": 1, "daily_budget_micros": 100_000_000})
    await _costed_rows(s, 3, 10)
    s.clock.advance(86_400)  # a day later the ledger may have pruned their reservations
    done = await spend_reconciliation.reconcile(s)
    assert done["read"] == 0 and (await _budget(s))["spent_today_micros"] == 0
