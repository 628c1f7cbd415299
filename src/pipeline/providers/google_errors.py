"""Errors from the Gemini API (Gemini and Imagen share it): google.rpc statuses,
`RetryInfo.retryDelay`, and the sticky per-day quota that retrying cannot fix."""

from __future__ import annotations

from typing import Any

from .. import errors
from . import http_errors


def _retry_delay(details: list[Any]) -> float | None:
    for item in details:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = str(item.get("retryDelay") or "")
            try:
                return float(delay.rstrip("s")) if delay else None
            except ValueError:
                return None
    return None


def _daily_quota(details: list[Any]) -> bool:
    """A QuotaFailure naming a per-day quota: exhausted until tomorrow."""
    for item in details:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.QuotaFailure"):
            for violation in item.get("violations") or []:
                quota = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
                if "PerDay" in quota or "per_day" in quota.lower():
                    return True
    return False


def from_response(provider: str, status: int, headers: dict[str, str], body: bytes) -> errors.ProviderError:
    parsed = http_errors.json_body(body) or {}
    err = parsed.get("error") if isinstance(parsed.get("error"), dict) else {}
    details = err.get("details") if isinstance(err.get("details"), list) else []
    message = str(err.get("message") or "")[:500]
    if status == 429 and _daily_quota(details):
        return errors.ProviderQuotaExhausted(
            f"{provider}'s daily quota is exhausted: {message}", provider=provider,
            details={"http_status": status, "provider_code": err.get("status")},
        )
    if status == 400 and "sensitive words" in message.lower():
        # Imagen's prompt prefilter answers 400, but it is a safety refusal.
        return errors.ProviderRefused(f"{provider} refused the prompt: {message}", provider=provider,
                                      details={"http_status": status, "reason": "prompt_prefilter"})
    return http_errors.from_status(provider, status, headers, body, retry_after_s=_retry_delay(details))
