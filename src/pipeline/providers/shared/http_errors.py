"""Map an HTTP failure from any provider to the typed errors, in one place.

Status decides the class; the provider's own message is kept (trimmed) because
it helps the caller, but keys never appear in it: we never send them back."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any

from ... import errors

_MAX_MESSAGE = 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_after_ms(headers: dict[str, str]) -> float | None:
    """OpenAI's `retry-after-ms` (milliseconds), which its SDK honours before `retry-after`."""
    raw = headers.get("retry-after-ms")
    try:
        return max(0.0, float(raw) / 1000) if raw else None
    except ValueError:
        return None


def body_text(body: bytes) -> str | None:
    """A body as text, for `json_body`: a caller that then lets the bytes go parses with one
    copy of a large answer less in memory (base64 images: the isolate's memory, limits.py)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def json_body(body: bytes | str | None) -> dict[str, Any] | None:
    if body is None:
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def error_message(body: bytes) -> tuple[str, dict[str, Any]]:
    """The `error.message` both OpenAI and Google use, else the start of the body."""
    parsed = json_body(body)
    err = parsed.get("error") if parsed else None
    if isinstance(err, dict):
        return str(err.get("message") or "")[:_MAX_MESSAGE], err
    if isinstance(err, str):
        return err[:_MAX_MESSAGE], {}
    return body[:_MAX_MESSAGE].decode("utf-8", "replace"), {}


def from_status(
    provider: str, status: int, headers: dict[str, str], body: bytes, retry_after_s: float | None = None
) -> errors.ProviderError:
    """The typed error for a non-2xx answer. Provider-specific readings (safety,
    sticky quotas) are checked by the adapter before it falls back to this."""
    message, err = error_message(body)
    retry_after = retry_after_s if retry_after_s is not None else parse_retry_after(headers.get("retry-after"))
    text = f"{provider} answered HTTP {status}: {message}".rstrip(": ")
    details = {"http_status": status}
    code = err.get("code") or err.get("status")
    if code:
        details["provider_code"] = code
    if status == 429:
        return errors.ProviderRateLimited(text, provider=provider, retry_after_s=retry_after, details=details)
    if status in (401, 403):
        return errors.ProviderAuthError(f"{provider} rejected our credentials (HTTP {status})", provider=provider, details=details)
    if status == 408:
        return errors.ProviderTimeout(text, provider=provider, details=details)
    if status >= 500:
        return errors.ProviderUnavailable(text, provider=provider, retry_after_s=retry_after, details=details)
    if status in (400, 404, 409, 413, 415, 422):
        return errors.ProviderInvalidRequest(text, provider=provider, details=details)
    return errors.ProviderBadResponse(text, provider=provider, details=details)
