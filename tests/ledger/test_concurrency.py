"""200 simultaneous requests against a small budget: exactly what the budget allows
is admitted — at the ledger, and end to end through the API with a real provider."""

from __future__ import annotations

import asyncio
from collections import Counter

from local.ledger import local_ledger
from pipeline.providers.placeholder import render_png
from tests.fakes.ledger import req
from tests.fakes.server import Reply
from tests.fakes.openai import OPENAI_ENV, openai_success


async def test_200_simultaneous_reservations_admit_exactly_the_budget():
    ledger = local_ledger()
    await ledger.put_config({"daily_budget_micros": 1_000_000})

    async def one(i: int) -> bool:
        answer = await ledger.reserve(req(f"r{i}", 30_000, caller=f"c{i % 7}"))
        return answer.ok

    admitted = await asyncio.gather(*(one(i) for i in range(200)))
    assert sum(admitted) == 1_000_000 // 30_000  # 33
    status = (await ledger.usage("2000-01-01", "2999-12-31")).budget
    assert status["reserved_now_micros"] == 33 * 30_000 and status["remaining_micros"] == 10_000


async def test_200_simultaneous_generations_through_the_api(make_services, client_for, fake_server):
    openai = fake_server()
    body = openai_success(render_png(b"budget", 64, 64))
    # billed 8_280: 24 text tokens × $5/1M + 272 image tokens × $30/1M; estimated 8_680
    # (272 low-quality output tokens + a bound of 104 prompt tokens for "p000": 4 bytes + 100 overhead)
    body["usage"] = {"input_tokens": 24, "input_tokens_details": {"text_tokens": 24, "image_tokens": 0},
                     "output_tokens": 272, "total_tokens": 296}
    openai.route("POST", "/v1/images/generations", Reply(200, body, delay_s=0.05))
    services = make_services({**OPENAI_ENV, "OPENAI_BASE_URL": openai.url, "SLOT_WAIT_S": "60"})
    await services.ledger.put_config({"daily_budget_micros": 10 * 8_680, "global_concurrency": 4})
    client = client_for(services)

    async def one(i: int) -> int:
        response = await client.post("/v1/generations", json={"prompt": f"p{i:03d}", "quality": "low"})
        return response.status_code

    statuses = Counter(await asyncio.gather(*(one(i) for i in range(200))))
    assert statuses == {201: 10, 402: 190}
    assert len(openai.received) == 10
    usage = (await services.ledger.usage("2000-01-01", "2999-12-31")).budget
    assert usage["spent_today_micros"] == 82_800 and usage["remaining_micros"] == 4_000
    assert usage["reserved_now_micros"] == 0 and usage["slots_in_use"] == 0
    rows = await services.db.all("SELECT status, COUNT(*) AS n FROM generation_requests GROUP BY status ORDER BY status")
    assert rows == [{"status": "refused", "n": 190}, {"status": "succeeded", "n": 10}]
