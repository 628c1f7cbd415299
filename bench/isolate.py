"""One isolate, many requests: waves of concurrent largest requests in real workerd.

The Worker runs in workerd (tests/workerd/harness.py) with its test-only memory probe
on (runtime/memory_probe.py), against a fake OpenAI answering with incompressible
PNGs (as many as a call asks for, at its size: two per call at 1536x1024, limits.py).
Waves: generations of n=1 (1024x1024 and 1536x1024), n=4 and n=10 at 1536x1024,
edits at the input limit (uploaded noise images), variants of large originals. After each wave it prints the WebAssembly
memory (the isolate's peak so far: it never shrinks), workerd's RSS, every request's
outcome, and workerd's CPU seconds per generation.

    bench/run --isolate [--concurrency 8] [--budget-mib 12]
    bench/run --isolate --snapshot     cold start without and with the memory snapshot, its size
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import time
from typing import Any

import httpx

from tests.fakes.noise import NoiseOpenAI, noise_png
from tests.fakes.server import FakeServer
from tests.workerd import harness

W, H = 1536, 1024
SIZE = f"{W}x{H}"


def probe(worker: harness.Workerd) -> dict[str, Any]:
    r = httpx.get(f"{worker.url}{harness.MEMORY_PROBE_PATH}", timeout=60)
    r.raise_for_status()
    return r.json()


def outcome(r: httpx.Response) -> str:
    if r.status_code in (200, 201):
        return str(r.status_code)
    try:
        return f"{r.status_code} {r.json()['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return str(r.status_code)


async def wave(worker: harness.Workerd, name: str, make, count: int, generations: int) -> dict[str, Any]:
    cpu0, t0 = worker.cpu_s(), time.perf_counter()
    async with httpx.AsyncClient(base_url=worker.url, timeout=300) as client:
        answers = await asyncio.gather(*(make(client, i) for i in range(count)), return_exceptions=True)
    wall, cpu = time.perf_counter() - t0, worker.cpu_s() - cpu0
    outcomes = collections.Counter(a if isinstance(a, str) else type(a).__name__ for a in answers)
    done = sum(n for k, n in outcomes.items() if k in ("200", "201"))
    seen = probe(worker)
    return {"wave": name, "outcomes": dict(outcomes), "wasm_mib": seen["wasm_bytes"] / harness.MIB,
            "rss_mib": worker.rss_bytes() / harness.MIB, "wall_s": wall, "cpu_s": cpu,
            "cpu_per_generation_s": cpu / max(1, done * generations), "budget": seen["budget"]}


def cold_starts() -> None:
    """Cold start without and with the Worker's memory snapshot (what Cloudflare makes on upload):
    `dev` until ready, then the first generation; and the snapshot's size."""
    import shutil
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="snapshot-"))
    env = {"PLACEHOLDER_ENABLED": "true", "REQUIRE_API_TOKEN": "false"}
    rows = []
    try:
        for name, args in (("no snapshot", None), ("saving the snapshot", f"--python-snapshot-dir {folder} --python-save-snapshot"),
                           ("from the snapshot", f"--python-snapshot-dir {folder} --python-load-snapshot snapshot.bin")):
            worker = harness.start(env, workerd_args=args).wait_ready()
            t = time.perf_counter()
            r = httpx.post(f"{worker.url}/v1/generations", json={"prompt": "cold", "provider": "placeholder"}, timeout=120)
            first_ms = (time.perf_counter() - t) * 1000
            worker.stop()
            rows.append((name, worker.ready_s or 0.0, first_ms, r.status_code))
        size = (folder / "snapshot.bin").stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"snapshot: {size / harness.MIB:.1f} MiB")
    print("| start | dev ready s | first generation ms | status |")
    print("|---|---|---|---|")
    for name, ready, first, status in rows:
        print(f"| {name} | {ready:.1f} | {first:.0f} | {status} |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--budget-mib", type=int, default=None, help="ISOLATE_IMAGE_MIB (default: the Worker's)")
    parser.add_argument("--snapshot", action="store_true", help="only the cold start without and with a memory snapshot")
    args = parser.parse_args()
    if args.snapshot:
        cold_starts()
        return
    fake = FakeServer().start()
    answers = NoiseOpenAI()
    fake.route("POST", "/v1/images/generations", answers)
    fake.route("POST", "/v1/images/edits", answers)
    env = {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.url, "PLACEHOLDER_ENABLED": "true",
           "REQUIRE_API_TOKEN": "false", "AUTO_PROVIDER_ORDER": "openai", "SLOT_WAIT_S": "60",
           harness.MEMORY_PROBE_SETTING: "on"}
    if args.budget_mib:
        env["ISOLATE_IMAGE_MIB"] = str(args.budget_mib)
    worker = harness.start(env)
    rows = []
    try:
        worker.wait_ready()
        httpx.get(f"{worker.url}/v1/health", timeout=120)
        harness.open_budget(worker.url)
        start = probe(worker)
        print(f"start: wasm {start['wasm_bytes'] / harness.MIB:.1f} MiB, workerd RSS {worker.rss_bytes() / harness.MIB:.0f} MiB,"
              f" budget {start['budget']['capacity_bytes'] / harness.MIB:.0f} MiB; ready after {worker.ready_s:.1f} s")
        n = args.concurrency

        def generate(count: int, size: str = SIZE):
            async def make(client: httpx.AsyncClient, _i: int) -> str:
                return outcome(await client.post("/v1/generations", json={"prompt": "noise", "provider": "openai",
                                                                          "size": size, "n": count}))
            return make

        rows.append(await wave(worker, f"{n} x generate n=1 1024x1024", generate(1, "1024x1024"), n, 1))
        rows.append(await wave(worker, f"{n} x generate n=1 {SIZE}", generate(1), n, 1))
        rows.append(await wave(worker, f"{n} x generate n=4 {SIZE}", generate(4), n, 1))
        rows.append(await wave(worker, f"{n} x generate n=10 {SIZE}", generate(10), n, 1))
        # edits at the input limit: three uploaded noise originals (14 MB of 16 MiB)
        uploads = []
        async with httpx.AsyncClient(base_url=worker.url, timeout=120) as client:
            for seed in range(3):
                up = await client.post("/v1/uploads", content=noise_png(W, H, 100 + seed),
                                       headers={"content-type": "image/png"})
                up.raise_for_status()
                uploads.append(up.json()["id"])

        async def edit(client: httpx.AsyncClient, _i: int) -> str:
            return outcome(await client.post("/v1/generations", json={
                "prompt": "night", "provider": "openai", "size": SIZE, "n": 2,
                "images": [{"upload_id": u} for u in uploads]}))

        rows.append(await wave(worker, f"{n} x edit, 3 inputs {SIZE} (14 MB)", edit, n, 1))
        async with httpx.AsyncClient(base_url=worker.url, timeout=300) as client:
            made = await client.post("/v1/generations", json={"prompt": "originals", "provider": "openai",
                                                               "size": SIZE, "n": 2})
            made.raise_for_status()
            images = [i["id"] for i in made.json()["images"]]

        async def variant(client: httpx.AsyncClient, i: int) -> str:
            r = await client.get(f"/v1/images/{images[i % len(images)]}", params={"width": 256 + 128 * i})
            return outcome(r)

        rows.append(await wave(worker, f"{n} x variant of a {SIZE} original", variant, n, 1))
    finally:
        worker.stop()
        fake.stop()
    print("| wave | outcomes | wasm MiB after | workerd RSS MiB | wall s | workerd CPU s | CPU s per generation | budget peak MiB, waited, refused |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["budget"]
        print(f"| {r['wave']} | {r['outcomes']} | {r['wasm_mib']:.1f} | {r['rss_mib']:.0f} | {r['wall_s']:.1f} |"
              f" {r['cpu_s']:.2f} | {r['cpu_per_generation_s']:.3f} |"
              f" {b['peak_bytes'] / harness.MIB:.1f}, {b['waited']}, {b['refused']} |")


if __name__ == "__main__":
    asyncio.run(main())
