"""What the Worker adds on top of a provider call.

A fake OpenAI server on 127.0.0.1 answers every generation with the same
~1.5 MB image. We time (a) calling it directly (POST, JSON parse, base64
decode — the least any client does) and (b) the same request through the
Worker's app served by uvicorn in a separate process (validation, D1 rows,
ledger reserve/slot/settle, R2 write, result). Figures are medians over many
runs; the ratio (b)/(a) is what to compare across machines."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.fakes.server import FakeServer, Reply

ROOT = Path(__file__).resolve().parent.parent


def _image_reply(size: int) -> Reply:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(size)
    body = {
        "created": 1, "data": [{"b64_json": base64.b64encode(png).decode()}], "output_format": "png",
        "size": "1024x1024", "quality": "medium",
        "usage": {"input_tokens": 20, "input_tokens_details": {"text_tokens": 20, "image_tokens": 0},
                  "output_tokens": 1056, "total_tokens": 1076},
    }
    return Reply(200, json.dumps(body).encode(), headers={"Content-Type": "application/json"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def _time_direct(url: str, n: int) -> list[float]:
    out = []
    async with httpx.AsyncClient() as client:
        for _ in range(n):
            t = time.perf_counter()
            r = await client.post(f"{url}/v1/images/generations", json={"model": "gpt-image-1", "prompt": "bench", "n": 1},
                                  headers={"authorization": "Bearer sk-bench"})
            base64.b64decode(r.json()["data"][0]["b64_json"])
            out.append((time.perf_counter() - t) * 1000)
    return out


async def _time_worker(url: str, n: int, concurrency: int = 1) -> list[float]:
    out: list[float] = []
    async with httpx.AsyncClient(timeout=60) as client:
        async def one() -> None:
            t = time.perf_counter()
            r = await client.post(f"{url}/v1/generations", json={"prompt": "bench", "provider": "openai", "quality": "medium"})
            assert r.status_code == 201, r.text
            out.append((time.perf_counter() - t) * 1000)

        for start in range(0, n, concurrency):
            await asyncio.gather(*(one() for _ in range(min(concurrency, n - start))))
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--image-bytes", type=int, default=1_500_000)
    parser.add_argument("--scaling", action="store_true",
                        help="throughput at 8, 32 and 64 concurrent against an instant provider (1 KB images)")
    args = parser.parse_args()
    if args.scaling:
        args.image_bytes = 1_000

    fake = FakeServer().start()
    fake.route("POST", "/v1/images/generations", _image_reply(args.image_bytes))
    port = _free_port()
    data = tempfile.mkdtemp(prefix="bench-")
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.url, "PLACEHOLDER_ENABLED": "false",
           "PYTHONPATH": "src:."}
    env.pop("API_TOKEN", None)
    server = subprocess.Popen([sys.executable, "-m", "local.server", "--port", str(port), "--data", data],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    worker = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{worker}/v1/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        await _time_direct(fake.url, 5)
        await _time_worker(worker, 5)
        if args.scaling:
            httpx.put(f"{worker}/v1/budget", json={"global_concurrency": 256, "daily_budget_micros": 10**12})
            print(f"python {sys.version.split()[0]}, runs per level: {args.runs * 4}, instant provider, 1 KB images")
            print("| concurrent | requests/s | p50 ms |")
            print("|---|---|---|")
            for level in (8, 32, 64):
                t = time.perf_counter()
                samples = await _time_worker(worker, args.runs * 4, concurrency=level)
                print(f"| {level} | {len(samples) / (time.perf_counter() - t):.0f} | {statistics.median(samples):.1f} |")
            return
        direct = await _time_direct(fake.url, args.runs)
        through = await _time_worker(worker, args.runs)
        t = time.perf_counter()
        concurrent = await _time_worker(worker, args.runs, concurrency=16)
        wall = time.perf_counter() - t
    finally:
        server.terminate()
        server.wait()
        fake.stop()

    d50, w50 = statistics.median(direct), statistics.median(through)
    print(f"image: {args.image_bytes / 1e6:.1f} MB, runs: {args.runs}, python {sys.version.split()[0]}")
    print("| path | p50 ms | p95 ms |")
    print("|---|---|---|")
    print(f"| direct to provider | {d50:.1f} | {_pct(direct, .95):.1f} |")
    print(f"| through the Worker (sequential) | {w50:.1f} | {_pct(through, .95):.1f} |")
    print(f"| through the Worker (16 concurrent) | {statistics.median(concurrent):.1f} | {_pct(concurrent, .95):.1f} |")
    print(f"overhead: +{w50 - d50:.1f} ms per request at p50; ratio worker/direct = {w50 / d50:.2f}x")
    print(f"throughput at 16 concurrent: {args.runs / wall:.1f} requests/s")


if __name__ == "__main__":
    asyncio.run(main())
