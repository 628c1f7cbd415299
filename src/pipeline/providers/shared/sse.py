"""Incremental Server-Sent Events parsing over a stream of byte chunks.

Yields each event as soon as its blank line arrives, so a consumer sees a
partial image while the provider is still drawing the next one. Handles events
split across chunks, CRLF or LF line endings, multi-line `data:`, comments
(keep-alives) and a final event without a trailing blank line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator

# One event's data may carry a base64 image of several MB; more than this is a broken stream.
MAX_EVENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SseEvent:
    event: str
    data: str
    id: str | None = None


class SseTooLarge(ValueError):
    pass


def _lines(chunk: bytes, pending: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """Complete lines in `pending + chunk`, and what is left over. Only the new chunk
    is searched, so a multi-megabyte line arriving in small chunks costs linear time."""
    if b"\n" not in chunk:
        pending.append(chunk)
        return [], pending
    head, *middle, tail = chunk.split(b"\n")
    first = b"".join(pending) + head
    return [first, *middle], [tail] if tail else []


def _field(raw: bytes) -> tuple[str, str]:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    name, _, value = raw.decode("utf-8", "replace").partition(":")
    return name, value[1:] if value.startswith(" ") else value


async def parse(chunks: AsyncIterator[bytes]) -> AsyncIterator[SseEvent]:
    pending: list[bytes] = []
    event, data, last_id = "", list[str](), None
    size = 0
    async for chunk in chunks:
        lines, pending = _lines(chunk, pending)
        if sum(len(p) for p in pending) > MAX_EVENT_BYTES:
            raise SseTooLarge("server-sent event line larger than 64 MB")
        for raw in lines:
            if raw in (b"", b"\r"):
                if data or event:
                    yield SseEvent(event or "message", "\n".join(data), last_id)
                event, data, size = "", [], 0
                continue
            if raw.startswith(b":"):
                continue  # comment / keep-alive
            name, value = _field(raw)
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
                size += len(value)
                if size > MAX_EVENT_BYTES:
                    raise SseTooLarge("server-sent event larger than 64 MB")
            elif name == "id":
                last_id = value
    rest = b"".join(pending)
    if rest.strip():
        name, value = _field(rest)
        if name == "data":
            data.append(value)
    if data:
        yield SseEvent(event or "message", "\n".join(data), last_id)
