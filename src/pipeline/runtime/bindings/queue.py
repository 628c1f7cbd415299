"""The Queue port (ports.py) over a Queue binding (env.JOBS), and the consumer's messages."""

from __future__ import annotations

from typing import Any, Sequence

from ..scope import current
from ..values import js_value, py_value, unwrap


class JsQueue:
    """The Queue port (batches and async jobs) over a Queue binding, JSON bodies."""

    def __init__(self, name: str = "JOBS") -> None:
        self._name = name

    async def send(self, body: dict[str, Any], delay_s: int = 0) -> None:
        """One message, delivered after `delay_s` seconds."""
        options = {"contentType": "json", "delaySeconds": int(delay_s)}
        await current().binding(self._name).send(js_value(body), js_value(options))

    async def send_batch(self, bodies: Sequence[dict[str, Any]]) -> None:
        """Several messages in one call."""
        await current().binding(self._name).sendBatch(
            js_value([{"body": b, "contentType": "json"} for b in bodies]))


def queue_messages(batch: Any) -> list[dict[str, Any]]:
    """A consumer's MessageBatch as plain dicts {id, body, attempts, ack(), retry(delay_s)}."""
    return [{"id": str(m.id), "body": py_value(m.body), "attempts": int(m.attempts), "ack": m.ack,
             "retry": lambda delay_s=0, m=m: m.retry(js_value({"delaySeconds": int(delay_s)}))}
            for m in unwrap(batch).messages]
