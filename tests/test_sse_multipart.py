"""The SSE parser and the multipart encoder, against independent readers."""

from __future__ import annotations

import os
from email.parser import BytesParser
from email.policy import HTTP

from pipeline.providers.shared import multipart, sse


async def _chunks(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _events(data: bytes, size: int) -> list[sse.SseEvent]:
    return [e async for e in sse.parse(_chunks(data, size))]


async def test_events_survive_any_chunking():
    stream = (b": keep-alive\r\n\r\nevent: image_generation.partial_image\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n"
              b"event: image_generation.completed\ndata: {\"b\": 2}\n\nid: 7\ndata: tail-without-blank-line")
    expected = [
        sse.SseEvent("image_generation.partial_image", '{"a":\n1}'),
        sse.SseEvent("image_generation.completed", '{"b": 2}'),
        sse.SseEvent("message", "tail-without-blank-line", "7"),
    ]
    for size in (1, 2, 3, 7, 64, 10_000):
        assert await _events(stream, size) == expected, size


async def test_a_large_event_in_small_chunks():
    payload = os.urandom(3 * 1024 * 1024).hex()
    events = await _events(f"event: big\ndata: {payload}\n\n".encode(), 16 * 1024)
    assert len(events) == 1 and events[0].data == payload


async def test_events_are_yielded_before_the_stream_ends():
    gate_seen = []

    async def chunks():
        yield b"event: first\ndata: 1\n\n"
        gate_seen.append("second chunk requested")
        yield b"event: second\ndata: 2\n\n"

    stream = sse.parse(chunks())
    first = await stream.__anext__()
    assert first.event == "first" and gate_seen == []


def test_multipart_round_trips_through_an_independent_parser():
    png = os.urandom(1000)
    body, content_type = multipart.encode([
        ("model", "gpt-image-1"),
        ("prompt", 'say "hi"\nplease'),
        ("image[]", multipart.FilePart("a.png", "image/png", png)),
        ("image[]", multipart.FilePart("b.webp", "image/webp", b"webp")),
    ])
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_content_type(),
              p.get_payload(decode=True)) for p in message.iter_parts()]
    assert parts[0] == ("model", None, "text/plain", b"gpt-image-1")
    assert parts[1][:2] == ("prompt", None) and parts[1][3] == b'say "hi"\nplease'
    assert parts[2] == ("image[]", "a.png", "image/png", png)
    assert parts[3][:3] == ("image[]", "b.webp", "image/webp")
