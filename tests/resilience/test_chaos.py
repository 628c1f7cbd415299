"""Many concurrent generations against a provider that fails at random, end to end:
nothing lost (every row terminal), nothing double-charged (the ledger's spend equals
D1's), every possibly-billed answer charged (a 2xx we cannot read costs its
estimate), nothing left reserved or holding a slot."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter

from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV


async def test_random_provider_failures_never_lose_or_double_count_money(make_services, client_for, fake_server):
    rng = random.Random(20261124)
    lock = threading.Lock()
    billed = []
    unreadable = []  # 2xx answers we cannot read: the provider billed them
    png = render_png(b"chaos", 8, 8)
    answers = [
        (40, lambda: Reply(200, load("openai", "generation", IMAGE=png))),
        (15, lambda: Reply(500, load("openai", "server_error"))),
        (15, lambda: Reply(429, load("openai", "rate_limited"), headers={"Retry-After": "0"})),
        (10, lambda: Reply(400, load("openai", "moderation_blocked"))),
        (10, lambda: Reply(200, b"{not json", headers={"Content-Type": "application/json"})),
        (10, lambda: Reply(200, load("openai", "generation", IMAGE=png), delay_s=0.05)),
    ]

    def handler(_req):
        with lock:
            make = rng.choices([a for _, a in answers], weights=[w for w, _ in answers])[0]
            reply = make()
            if reply.status == 200 and isinstance(reply.body, dict):
                billed.append(250 + 8_160)  # 50 text in at $5/1M + 272 image out at $30/1M (gpt-image-2.6-flare)
            elif reply.status == 200:
                unreadable.append(1)
        return reply

    openai = fake_server()
    openai.route("POST", "/v1/images/generations", handler)
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "SLOT_WAIT_S": "30"})
    # The breaker stays closed: this test is about money under failures, not about skipping a
    # failing provider (tests/ledger/test_breaker.py), which would otherwise open it at random.
    await services.ledger.put_config({"daily_budget_micros": 200_000, "global_concurrency": 3, "breaker_min_calls": 10_000})
    client = client_for(services)

    async def one(i: int) -> int:
        response = await client.post("/v1/generations", json={"prompt": f"c{i:03d}", "quality": "low"})
        return response.status_code

    statuses = Counter(await asyncio.gather(*(one(i) for i in range(80))))
    assert sum(statuses.values()) == 80 and statuses[201] > 0 and statuses[402] > 0

    rows = await services.db.all("SELECT status, actual_cost_micros FROM generation_requests")
    assert len(rows) == 80 and all(r["status"] in ("succeeded", "failed", "refused") for r in rows)
    d1_spent = sum(r["actual_cost_micros"] or 0 for r in rows)
    budget = (await services.ledger.usage("2000-01-01", "2999-12-31")).budget
    charged = await services.db.all(
        "SELECT u.cost_micros, r.estimated_cost_micros FROM usage_events u JOIN generation_requests r ON r.id = u.request_id"
        " WHERE u.error_code = 'provider_bad_response'")
    assert len(charged) == len(unreadable) and all(c["cost_micros"] == c["estimated_cost_micros"] > 0 for c in charged)
    uncertain = sum(c["cost_micros"] for c in charged)
    # every billed answer counted once; every unreadable 2xx charged at its estimate
    assert budget["spent_today_micros"] == d1_spent == sum(billed) + uncertain
    assert budget["spent_today_micros"] <= 200_000
    assert budget["reserved_now_micros"] == 0 and budget["slots_in_use"] == 0
    images = await services.db.all("SELECT COUNT(*) AS n FROM images")
    assert images[0]["n"] == statuses[201] == len(billed)
