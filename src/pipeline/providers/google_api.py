"""What Gemini and Imagen share: the Gemini API's key header, JSON POSTs, the
model probe, and its errors (google.rpc statuses, `RetryInfo.retryDelay`, the
sticky per-day quota that retrying cannot fix)."""

from __future__ import annotations

import json
from typing import Any

from .. import errors
from ..ports import HttpRequest
from . import http_errors
from .base import ImageProvider, ProviderContext

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


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


class GoogleApiProvider(ImageProvider):
    """Base for providers behind the Gemini API (`GEMINI_API_KEY`, `GEMINI_BASE_URL`)."""

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.base_url = ctx.settings.get("GEMINI_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
        self._key = ctx.settings["GEMINI_API_KEY"]
        self.timeout_s = float(ctx.settings.get("GEMINI_TIMEOUT_S", "120"))

    async def post(self, model: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST {base}/v1beta/models/{model}:{method}; the JSON answer or a typed error."""
        request = HttpRequest(
            "POST", f"{self.base_url}/v1beta/models/{model}:{method}",
            {"x-goog-api-key": self._key, "content-type": "application/json"},
            json.dumps(body).encode(), self.timeout_s,
        )
        response = await self.ctx.http.send(request)
        if response.status != 200:
            raise from_response(self.name, response.status, response.headers, response.body)
        payload = http_errors.json_body(response.body)
        if payload is None:
            raise errors.ProviderBadResponse(f"{self.name} answered 200 with a body that is not JSON", provider=self.name)
        return payload

    async def probe(self) -> dict[str, Any]:
        """GET the model's metadata: proves reachability and the key without generating anything."""
        url = f"{self.base_url}/v1beta/models/{self.capabilities.default_model}"
        request = HttpRequest("GET", url, {"x-goog-api-key": self._key}, None, 10.0)
        return await self.probe_request(request, lambda r: from_response(self.name, r.status, r.headers, r.body))
