"""The one place log lines are written: one JSON object per line.

Every event (a request, an attempt, batch progress, a webhook, a failing provider)
goes through `event`, on the `image_worker` logger (requests on
`image_worker.access`). `configure` gives those loggers a handler that prints the
line as it is, so the local server and the Worker (stdout → the Workers log) show
the same lines; under pytest the records reach `caplog` as before.

Never pass a prompt, a header value or a secret as a field."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

LOGGER = "image_worker"
ACCESS = "image_worker.access"

_HANDLER_NAME = "image_worker.lines"


def line(name: str, **fields: Any) -> str:
    """The JSON text of one event (compact; a value JSON has no type for is written as text)."""
    return json.dumps({"event": name, **fields}, separators=(",", ":"), default=str)


def event(level: int, name: str, *, logger: str = LOGGER, **fields: Any) -> None:
    """Write one event at `level`, if that level is enabled."""
    target = logging.getLogger(logger)
    if target.isEnabledFor(level):
        target.log(level, line(name, **fields))


def level_named(name: str | None, default: int = logging.INFO) -> int:
    """`LOG_LEVEL`'s value as a logging level ("INFO", "warning", …); `default` when unknown."""
    named = logging.getLevelName((name or "").upper())
    return named if isinstance(named, int) else default


class TextFormatter(logging.Formatter):
    """The same events as short lines for a person at a terminal (the local server):
    `12:00:03 INFO  POST /v1/generations 201 35.1ms req_… gen_…`, or `event key=value …`."""

    def format(self, record: logging.LogRecord) -> str:
        when = self.formatTime(record, "%H:%M:%S")
        message = record.getMessage()
        try:
            fields = json.loads(message)
        except ValueError:
            fields = None
        if not isinstance(fields, dict):
            text = message  # a line some library wrote as prose
        elif fields.get("event") == "request":
            f = dict(fields)
            parts = [str(f.pop(k, "")) for k in ("method", "route", "status")]
            parts.append(f"{f.pop('duration_ms', '?')}ms")
            f.pop("event")
            parts += [f"{k}={v}" for k, v in f.items() if v is not None]
            text = " ".join(parts)
        else:
            text = " ".join([str(fields.pop("event", "?"))] + [f"{k}={v}" for k, v in fields.items() if v is not None])
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return f"{when} {record.levelname:<5} {text}"


FORMATS = {"json": logging.Formatter("%(message)s"), "text": TextFormatter()}


def configure(level: str | None, fmt: str = "json", stream: Any = None) -> None:
    """Print this package's log lines at `level` and above, one per line, to `stream`
    (stdout by default), as JSON (`json`, what the Worker writes) or for a person (`text`).
    Idempotent: calling it again only changes the level and format."""
    root = logging.getLogger(LOGGER)
    root.setLevel(level_named(level))
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.set_name(_HANDLER_NAME)
        root.addHandler(handler)
    elif stream is not None and isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)
    handler.setFormatter(FORMATS.get(fmt, FORMATS["json"]))
