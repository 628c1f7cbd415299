"""Server-Sent Events for the tests: frames a fake provider streams, events a caller reads."""

from __future__ import annotations

import json


def sse_frame(event: str, payload: dict) -> bytes:
    """One `event:` / `data:` frame, as a provider streams it."""
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


def sse_events(lines) -> list[tuple[str, dict]]:
    """(event, decoded data) for each event in a stream's text lines."""
    out, kind = [], None
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind:
            out.append((kind, json.loads(line[6:])))
    return out
