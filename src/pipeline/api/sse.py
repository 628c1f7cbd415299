"""Server-Sent Events as this Worker writes them (`/v1/generations?stream=true`, the
OpenAI-compatible streams, `/v1/batches/{id}/events`): the one place frames are encoded."""

from __future__ import annotations

import json
from typing import Any

KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: keeps proxies from closing a silent stream
KEEPALIVE_S = 15.0  # the silence after which a stream sends KEEPALIVE


def frame(kind: str, data: dict[str, Any]) -> bytes:
    """One event: `event: kind` and its data as compact JSON on one line."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
