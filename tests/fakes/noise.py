"""Incompressible images, the size class real photos approach: a valid PNG of random
pixels is as large as its raw pixels (zlib cannot shrink noise), and a fake provider
answering with it in the OpenAI wire format (tests/workerd, bench/isolate.py)."""

from __future__ import annotations

import base64
import json
import random
import struct
import zlib

from tests.fakes.server import Received, Reply


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def noise_png(width: int, height: int, seed: int = 0) -> bytes:
    """A width x height RGB PNG of random pixels (stored, not compressed: noise does not shrink)."""
    rng = random.Random(seed)
    row = width * 3
    raw = b"".join(b"\x00" + rng.randbytes(row) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 0)) + _chunk(b"IEND", b"")


def openai_noise_reply(width: int, height: int, images: int) -> Reply:
    """An OpenAI `/v1/images/generations` (or edits) answer with `images` different noise PNGs."""
    data = [{"b64_json": base64.b64encode(noise_png(width, height, seed)).decode()} for seed in range(images)]
    body = {"created": 1, "data": data, "background": "opaque", "output_format": "png", "size": f"{width}x{height}",
            "quality": "high", "usage": {"input_tokens": 20, "input_tokens_details": {"text_tokens": 20, "image_tokens": 0},
                                         "output_tokens": 6240 * images, "total_tokens": 20 + 6240 * images}}
    return Reply(200, json.dumps(body).encode(), headers={"Content-Type": "application/json"})


class NoiseOpenAI:
    """A fake OpenAI route answering each call with as many noise PNGs as it asks for (`n`),
    at the size it asks for; each (size, n) answer is built once."""

    def __init__(self) -> None:
        self._answers: dict[tuple[int, int, int], Reply] = {}

    def __call__(self, request: Received) -> Reply:
        try:
            body = request.json()
        except ValueError:  # an edit (multipart): two images at the largest landscape size
            body = {"size": "1536x1024", "n": 2}
        width, height = (int(v) for v in str(body.get("size") or "1024x1024").split("x"))
        key = (width, height, int(body.get("n") or 1))
        if key not in self._answers:
            self._answers[key] = openai_noise_reply(*key)
        return self._answers[key]
