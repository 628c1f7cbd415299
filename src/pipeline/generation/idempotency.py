"""Idempotency keys: what a repeated key gets back.

| first request ended | a repeat with the same key and body gets |
|---|---|
| `succeeded` | the stored result, `201`, `idempotent_replay: true` |
| `failed`/`refused` with a 4xx error (invalid, refused, over budget) | that error again, same status |
| `failed`/`refused` with an error that is 5xx (provider down, timeout, capacity, abandoned, cancelled) | a new attempt, linked to the first (`params.retry_of`) |
| still `pending`/`running` | `409 conflict` |
| a different body | `409 conflict` |

So a stored outcome never replays as a 5xx: those are the retryable ones."""

from __future__ import annotations

from typing import Any

from .. import errors


def retries(existing: dict[str, Any]) -> bool:
    """True when the stored failure is one a retry may cure (its status is 5xx)."""
    if existing["status"] not in ("failed", "refused"):
        return False
    return errors.from_dict({"code": existing.get("error_code") or "internal_error"}).status >= 500
