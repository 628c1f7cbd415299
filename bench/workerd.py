"""The Worker in real workerd (Pyodide 314) against the same Worker under CPython.

Starts the Worker with the offline workerd tool (tests/workerd/harness.py) and
the local server under uvicorn, both pointed at one fake OpenAI on 127.0.0.1
answering with a ~1.5 MB image, then times:
- cold: `wrangler dev` until ready, the first request (loads Pyodide and the
  app), the first generation;
- warm: placeholder generations (no provider: the Worker's own cost) and
  OpenAI generations against calling the fake directly.

    bench/run --workerd            (or: python -m bench.workerd --runs 30)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

from bench.overhead import ROOT, _free_port, _image_reply, _pct, _time_direct, _time_worker
from tests.fakes.server import FakeServer
from tests.workerd import harness


async def _time_placeholder(url: str, n: int) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(n):
            t = time.perf_counter()
            r = await client.post(f"{url}/v1/generations", json={"prompt": "bench", "provider": "placeholder",
                                                                 "size": "1024x1024"})
            assert r.status_code == 201, r.text
            out.append((time.perf_counter() - t) * 1000)
    return out


async def _time_get(url: str, path: str, n: int) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=60) as client:
        for _ in range(n):
            t = time.perf_counter()
            r = await client.get(f"{url}{path}")
            assert r.status_code == 200, r.text
            out.append((time.perf_counter() - t) * 1000)
    return out


async def _profile(url: str, n: int) -> list[tuple[str, list[float]]]:
    """Where a generation's time goes in workerd, from outside, by routes that each add one
    kind of work: the bridge and FastAPI alone (health), + one Durable Object call (budget),
    + D1 reads (a stored generation), + D1 and one R2 get of 1.5 MB (an image)."""
    async with httpx.AsyncClient(timeout=60) as client:
        made = await client.post(f"{url}/v1/generations", json={"prompt": "bench", "provider": "openai"})
        made.raise_for_status()
        gen = made.json()
    return [
        ("GET /v1/health (ASGI bridge + FastAPI, no binding)", await _time_get(url, "/v1/health", n)),
        ("GET /v1/budget (+ 1 Durable Object call)", await _time_get(url, "/v1/budget", n)),
        ("GET /v1/generations/{id} (+ D1 reads of the stored result)", await _time_get(url, f"/v1/generations/{gen['id']}", n)),
        ("GET /v1/images/{id} (+ D1 read, R2 get, 1.5 MB to the client)",
         await _time_get(url, f"/v1/images/{gen['images'][0]['id']}", n)),
    ]


def _timed(call) -> float:
    t = time.perf_counter()
    call()
    return (time.perf_counter() - t) * 1000


def _start_cpython(env: dict[str, str]) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "local.server", "--port", str(port),
                               "--data", tempfile.mkdtemp(prefix="bench-")],
                              cwd=ROOT, env={**os.environ, **env, "PYTHONPATH": "src:."}, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/v1/health")
            return url, server
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("the local server did not start")


def _row(name: str, samples: list[float]) -> str:
    return f"| {name} | {statistics.median(samples):.1f} | {_pct(samples, .95):.1f} |"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    fake = FakeServer().start()
    fake.route("POST", "/v1/images/generations", _image_reply(1_500_000))
    env = {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": fake.url, "PLACEHOLDER_ENABLED": "true",
           "REQUIRE_API_TOKEN": "false", "AUTO_PROVIDER_ORDER": "openai"}
    worker = harness.start(env)
    try:
        worker.wait_ready()
        cold_first = _timed(lambda: httpx.get(f"{worker.url}/v1/health", timeout=120))
        cold_generation = _timed(lambda: httpx.post(f"{worker.url}/v1/generations", timeout=120,
                                                    json={"prompt": "first", "provider": "placeholder"}))
        local, server = _start_cpython(env)
        try:
            await _time_placeholder(worker.url, 3)
            await _time_placeholder(local, 3)
            wd_placeholder = await _time_placeholder(worker.url, args.runs)
            py_placeholder = await _time_placeholder(local, args.runs)
            direct = await _time_direct(fake.url, args.runs)
            wd_openai = await _time_worker(worker.url, args.runs)
            wd_profile = await _profile(worker.url, args.runs)
            py_openai = await _time_worker(local, args.runs)
        finally:
            server.terminate()
            server.wait()
    finally:
        worker.stop()
        fake.stop()
    print(f"runs: {args.runs}; workerd (Pyodide 314, Python 3.14) vs CPython {sys.version.split()[0]} under uvicorn")
    print(f"cold: wrangler dev ready after {worker.ready_s:.1f} s; first request {cold_first:.0f} ms; "
          f"first generation {cold_generation:.0f} ms")
    print("| path | p50 ms | p95 ms |")
    print("|---|---|---|")
    print(_row("placeholder generation, workerd", wd_placeholder))
    print(_row("placeholder generation, CPython", py_placeholder))
    print(_row("1.5 MB OpenAI image, direct to the fake provider", direct))
    print(_row("1.5 MB OpenAI image through the Worker, workerd", wd_openai))
    print(_row("1.5 MB OpenAI image through the Worker, CPython", py_openai))
    for name, samples in wd_profile:
        print(_row(f"{name}, workerd", samples))
    d50 = statistics.median(direct)
    print(f"ratio to direct at p50: workerd {statistics.median(wd_openai) / d50:.2f}x, "
          f"CPython {statistics.median(py_openai) / d50:.2f}x; the Worker's own time beyond the image at p50: "
          f"workerd {statistics.median(wd_openai) - d50:.1f} ms, CPython {statistics.median(py_openai) - d50:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
