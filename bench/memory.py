"""Peak memory of the largest requests the Worker accepts, under CPython with tracemalloc.

A Worker isolate has 128 MB; the target for one request is under 64 MB. The fake
providers run in a child process (their buffers are not ours) and answer with
incompressible PNGs, the worst case for bytes per pixel. Each scenario goes through
the real app (HTTP in, provider over HTTP, R2 folder + SQLite out) and prints the
peak beside the bytes of images involved, so "copies at peak" can be read off.

    PYTHONPATH=src:. .venv/bin/python -m bench.memory
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import os
import random
import struct
import tempfile
import time
import tracemalloc
import zlib

import httpx

MB = 1024 * 1024


def noise_png(width: int, height: int, seed: int) -> bytes:
    """An RGB PNG of random pixels, stored uncompressed: as large as a PNG of that size gets."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 0)) + chunk(b"IEND", b"")


def _serve(port_box, n: int, width: int, height: int) -> None:
    from tests.fakes.server import FakeServer, Reply

    images = [base64.b64encode(noise_png(width, height, i)).decode() for i in range(n)]
    usage = {"input_tokens": 50, "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
             "output_tokens": 1000, "total_tokens": 1050}

    def openai(req):
        count = json.loads(req.body).get("n", 1) if req.headers.get("content-type", "").startswith("application/json") else 1
        return Reply(200, {"created": 1, "data": [{"b64_json": images[i % n]} for i in range(count)], "usage": usage,
                           "size": f"{width}x{height}", "quality": "high", "output_format": "png"})

    server = FakeServer()
    server.route("POST", "/v1/images/generations", openai)
    server.route("POST", "/v1/images/edits", openai)
    server.start()
    port_box.put(server.url)
    while True:
        time.sleep(3600)


def start_fake(n: int, width: int, height: int) -> tuple[str, multiprocessing.Process]:
    box: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_serve, args=(box, n, width, height), daemon=True)
    proc.start()
    return box.get(timeout=120), proc


async def measure(name: str, env: dict[str, str], request: dict, image_bytes: int,
                  uploads: list[bytes] | None = None) -> dict:
    """`uploads` are stored first (POST /v1/uploads, not measured) and become the edit's inputs."""
    from local.services import build_local_services
    from pipeline.api.app import create_app

    with tempfile.TemporaryDirectory() as data:
        services = build_local_services(env, data)
        app = create_app(services)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for body in uploads or []:
                answer = await client.post("/v1/uploads", content=body, headers={"content-type": "image/png"})
                request.setdefault("images", []).append({"upload_id": answer.json()["id"]})
            del uploads
            tracemalloc.start()
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            response = await client.post("/v1/generations", json=request)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    assert response.status_code in (200, 201), response.text[:500]
    peak_mb = (peak - base) / MB
    return {"scenario": name, "peak_mb": round(peak_mb, 1), "image_mb": round(image_bytes / MB, 1),
            "copies_at_peak": round((peak - base) / max(image_bytes, 1), 2), "status": response.status_code}


def main() -> None:
    from pipeline import limits

    width, height = 1536, 1024  # the largest size the OpenAI catalog serves at full n
    n = 10
    url, proc = start_fake(n, width, height)
    env = {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": url, "PLACEHOLDER_ENABLED": "false",
           "REQUEST_TIMEOUT_S": "120"}
    one = len(noise_png(width, height, 0))
    inline_png = noise_png(1024, 1024, 99)
    inline_count = max(1, limits.MAX_INLINE_IMAGE_BYTES // len(inline_png))
    inline = [{"data_base64": base64.b64encode(inline_png).decode()} for _ in range(inline_count)]
    upload = noise_png(1670, 1670, 7)  # two of these: just under limits.MAX_INPUT_BYTES
    results = [
        asyncio.run(measure(f"generate n={n} at {width}x{height} (PNG {one / MB:.1f} MB each)", env,
                            {"prompt": "noise", "provider": "openai", "n": n, "size": f"{width}x{height}"}, n * one)),
        asyncio.run(measure(f"edit with {inline_count} inline inputs ({len(inline_png) / MB:.1f} MB each), n=1", env,
                            {"prompt": "noise", "provider": "openai", "images": inline}, inline_count * len(inline_png) + one)),
        asyncio.run(measure(f"edit with 2 uploaded inputs ({len(upload) / MB:.1f} MB each, the 16 MiB limit), n=1", env,
                            {"prompt": "noise", "provider": "openai"}, 2 * len(upload) + one, [upload, upload])),
    ]
    proc.kill()
    for r in results:
        print(f"{r['scenario']}: peak {r['peak_mb']} MB for {r['image_mb']} MB of images "
              f"({r['copies_at_peak']} copies at peak)")
    if os.environ.get("BENCH_JSON"):
        print(json.dumps(results))


if __name__ == "__main__":
    main()
