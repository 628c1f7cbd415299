"""The economy lane in real workerd: a batch to the fake OpenAI Batch API on the real
Queue (delayed poll messages), with an item that falls back to the standard lane and
a provider batch that expires half done; the money matches the fake's billing."""

from __future__ import annotations

from tests.fakes.batch_apis import OpenAIBatchFake
from tests.fakes.polling import until
from tests.workerd.conftest import PNG


def test_an_economy_batch_runs_on_the_queue_with_a_fallback_and_an_expiry(http, fakes):
    fake = OpenAIBatchFake(fakes.openai, PNG, polls_until_done=2, expire_after=2)
    before = http.get("/v1/budget").json()["today"]["spent_today_micros"]
    items = [{"prompt": f"scene {i}", "provider": "openai", "quality": "low"} for i in range(4)]
    items.append({"prompt": "a map", "provider": "placeholder"})
    answer = http.post("/v1/batches", json={"items": items, "lane": "economy"})
    assert answer.status_code == 202, answer.text
    view = until(http, f"/v1/batches/{answer.json()['id']}", lambda v: v["status"] == "completed", timeout_s=90)
    assert view["counts"] == {"succeeded": 3, "failed": 2}, view
    economy = [i for i in view["items"] if i["lane"] == "economy"]
    fallback = [i for i in view["items"] if i["lane"] == "standard"]
    assert len(economy) == 4 and len(fallback) == 1 and "no batch API" in fallback[0]["warnings"][0]
    assert sorted(i["status"] for i in economy) == ["failed", "failed", "succeeded", "succeeded"]
    assert {i["error"]["code"] for i in economy if i["error"]} == {"provider_batch_unfinished"}
    done = [i for i in economy if i["status"] == "succeeded"]
    assert http.get(done[0]["result"]["images"][0]["url"]).content == PNG
    spent = sum(i["result"]["actual_cost_micros"] for i in done)
    assert spent == fake.billed_micros > 0 and fake.created == 1
    assert view["provider_batches"][0]["provider_status"] == "expired"
    today = http.get("/v1/budget").json()["today"]
    assert today["spent_today_micros"] - before == spent  # placeholder items are free
    lanes = http.get("/v1/usage").json()["lanes"]["totals"]["economy"]
    assert lanes["spent_micros"] >= spent and lanes["saved_micros"] > 0
