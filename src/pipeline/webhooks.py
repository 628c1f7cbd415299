"""Webhooks: a JSON body, signed with HMAC-SHA256, retried with backoff.

Signature header (Stripe's layout, so receivers know it):
    Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
The timestamp is signed too, so a captured call cannot be replayed later
(`verify` rejects signatures older than its tolerance). Delivery is at least
once: receivers deduplicate by the `Webhook-Id` header."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from . import errors, logs
from .ports import Clock, HttpClient, HttpRequest

# Answers worth retrying: the receiver is down, overloaded or slow. Any other 4xx
# means the receiver will never take this body, so retrying would only repeat it.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_DELAY_S = 300.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: recompute the MAC, compare in constant time, check the age."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    expected = sign(secret, body, timestamp)
    return hmac.compare_digest(expected, header) and abs(now - timestamp) <= tolerance_s


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    last_status: int | None


async def deliver(
    http: HttpClient, clock: Clock, url: str, payload: dict[str, Any], *,
    secret: str, event_id: str, max_attempts: int, base_delay_s: float,
) -> Delivery:
    """POST the payload until a 2xx, a permanent refusal, or `max_attempts`; sleeps
    base, 2×base, 4×base… (capped) between tries. Never raises for the receiver's sake."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    status: int | None = None
    for attempt in range(1, max_attempts + 1):
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-attempt": str(attempt),
            "webhook-signature": sign(secret, body, int(clock.now().timestamp())),
        }
        try:
            # A redirect is the receiver's answer, never followed: it could point anywhere.
            response = await http.send(HttpRequest("POST", url, headers, body, timeout_s=15.0, follow_redirects=False))
            status = response.status
        except errors.ImageWorkerError as exc:  # transport failure: worth another try
            status = None
            logs.event(logging.WARNING, "webhook_failed", id=event_id, attempt=attempt, code=exc.code)
        if status is not None and 200 <= status < 300:
            return Delivery(True, attempt, status)
        if status is not None and status not in RETRY_STATUSES:
            logs.event(logging.WARNING, "webhook_refused", id=event_id, attempt=attempt, status=status)
            return Delivery(False, attempt, status)
        if attempt < max_attempts:
            await clock.sleep(min(MAX_DELAY_S, base_delay_s * 2 ** (attempt - 1)))
    return Delivery(False, max_attempts, status)
