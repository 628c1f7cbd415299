"""JSON log lines: one per event, which Workers Logs index by field.

Only ids, names, codes and numbers go in: never a prompt, a key or an image."""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("image_worker")


def log_event(level: int, event: str, **fields: Any) -> None:
    """One line `{"event": event, **fields}` on the `image_worker` logger."""
    log.log(level, json.dumps({"event": event, **fields}, separators=(",", ":")))
