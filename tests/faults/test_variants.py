"""The variants path (GET /v1/images/{id}?width=…) under every fault of the ports it uses
(D1, R2, the image transformer), one run per (port, step, kind): the answer is the variant
or a typed error (503 `storage_unavailable` with Retry-After for D1/R2, `transform_failed`
for the transformer), never a bare 500; once the ports heal the same request is served; and
every variant row has its object and every variant object its row."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from local.images import PillowTransformer
from pipeline.api.app import create_app
from tests.fakes.faults import Fault, FaultPlan, faulty

ADMIN = {"Authorization": "Bearer tok-admin"}
KINDS = ("fail", "lost")  # `down` is `fail` on every later call: the heal-and-retry covers it


async def _run(make_services: Any, plan: FaultPlan) -> tuple[httpx.Response, httpx.Response, Any]:
    plan.healed = True  # the generation runs clean; the plan arms for the variant request only
    raw = make_services({"API_TOKEN": "tok-admin"}, images=PillowTransformer())
    s = faulty(raw, plan)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(s)), base_url="http://w.test") as client:
        made = await client.post("/v1/generations", json={"prompt": "a lighthouse", "size": "1024x1024"}, headers=ADMIN)
        assert made.status_code == 201, made.text
        image = made.json()["images"][0]
        plan.healed = False
        first = await client.get(f"/v1/images/{image['id']}?width=256&format=webp", headers=ADMIN)
        plan.heal()
        again = await client.get(f"/v1/images/{image['id']}?width=256&format=webp", headers=ADMIN)
    return first, again, raw


async def _consistent(raw: Any) -> list[str]:
    rows = {r["r2_key"] for r in await raw.db.all("SELECT r2_key FROM image_variants")}
    originals = {r["r2_key"] for r in await raw.db.all("SELECT r2_key FROM images")}
    stored = {str(p.relative_to(raw.objects.root)) for p in raw.objects.root.rglob("*")
              if p.is_file() and not p.name.endswith(".meta.json")} - originals
    return [] if rows == stored else [f"variant rows {sorted(rows)} != objects {sorted(stored)}"]


async def test_a_variant_under_every_fault_of_its_ports(make_services):
    clean = FaultPlan()
    first, _, raw = await _run(make_services, clean)
    assert first.status_code == 200, first.text
    steps = Counter(port for port, _ in clean.calls)
    assert steps["db"] and steps["objects"] and steps["images"]
    problems, runs = [], 0
    for port, count in sorted(steps.items()):
        for nth in range(1, count + 1):
            for kind in KINDS:
                plan = FaultPlan([Fault(port, nth, kind)])
                first, again, raw = await _run(make_services, plan)
                runs += 1
                cell = f"{port}#{nth} {kind}"
                if first.status_code != 200:
                    error = first.json().get("error", {})
                    expected = "transform_failed" if port == "images" else "storage_unavailable"
                    if error.get("code") != expected:
                        problems.append(f"{cell}: {first.status_code} {error}")
                    elif expected == "storage_unavailable" and "retry-after" not in first.headers:
                        problems.append(f"{cell}: no Retry-After")
                if again.status_code != 200:
                    problems.append(f"{cell}: after healing {again.status_code} {again.text[:200]}")
                problems += [f"{cell}: {p}" for p in await _consistent(raw)]
    print(f"\nfault matrix [variant]: {runs} runs; steps per port {dict(steps)}")
    assert problems == [], "\n".join(problems)
