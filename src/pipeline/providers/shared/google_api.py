"""What the Google providers share: JSON POSTs to `models/{model}:{method}`, the
model probe, and the errors (google.rpc statuses, `RetryInfo.retryDelay`, the
sticky per-day quota that retrying cannot fix, `API_KEY_INVALID`, a model that is
gone). Two ways in: the Gemini API with an API key, or Vertex AI with a service
account (`VertexMixin`: regional endpoint, bearer token from vertex_auth.py)."""

from __future__ import annotations

import json
from typing import Any

from ... import errors
from ...ports import HttpRequest
from . import http_errors
from ..base import ImageProvider, ProviderContext, decode_image
from .vertex_auth import ServiceAccountAuth, parse_credentials

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"


_URL_SAFE = str.maketrans("-_", "+/")


def decode_b64_image(provider: str, b64: object) -> bytes:
    """Image bytes from a Google `bytes` field. google-genai (pydantic `val_json_bytes='base64'`)
    takes the standard and the URL-safe alphabet, padded or not: so do we."""
    if isinstance(b64, str) and b64:
        # Copies of a megabytes-long string only when needed: the standard alphabet, padded,
        # is what the APIs send.
        if "-" in b64 or "_" in b64:
            b64 = b64.translate(_URL_SAFE)
        if len(b64) % 4:
            b64 += "=" * (-len(b64) % 4)
    return decode_image(provider, b64)


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


def _reasons(details: list[Any]) -> set[str]:
    """`google.rpc.ErrorInfo.reason` values, e.g. API_KEY_INVALID."""
    return {str(d.get("reason")) for d in details if isinstance(d, dict) and str(d.get("@type", "")).endswith("google.rpc.ErrorInfo")}


# ErrorInfo reasons meaning our credential is bad (answered as 400 INVALID_ARGUMENT): auth errors, not bad requests.
AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED",
                          "SERVICE_DISABLED", "CONSUMER_INVALID"})


def from_response(provider: str, status: int, headers: dict[str, str], body: bytes) -> errors.ProviderError:
    parsed = http_errors.json_body(body) or {}
    err = parsed.get("error") if isinstance(parsed.get("error"), dict) else {}
    details = err.get("details") if isinstance(err.get("details"), list) else []
    message = str(err.get("message") or "")[:500]
    reasons = _reasons(details)
    if reasons & AUTH_REASONS:
        return errors.ProviderAuthError(f"{provider} rejected our credentials ({', '.join(sorted(reasons & AUTH_REASONS))})",
                                        provider=provider, details={"http_status": status, "provider_code": err.get("status")})
    if status == 404:
        # `models/x is not found for API version v1beta`: shut down or never existed here.
        return errors.ModelUnavailable(f"{provider}: the model is not available: {message}", provider=provider,
                                       details={"http_status": status, "provider_code": err.get("status")})
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
        self._key = ctx.settings.get("GEMINI_API_KEY", "")
        self.timeout_s = float(ctx.settings.get("GEMINI_TIMEOUT_S", "120"))

    def url_for(self, model: str, method: str = "") -> str:
        return f"{self.base_url}/v1beta/models/{model}" + (f":{method}" if method else "")

    def model_url(self, model: str) -> str:
        """The model's metadata (`models.get`): GET .../v1beta/models/{model}, as google-genai asks it."""
        return self.url_for(model)

    async def auth_headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    async def post(self, model: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST .../models/{model}:{method}; the JSON answer or a typed error."""
        request = HttpRequest(
            "POST", self.url_for(model, method),
            {**await self.auth_headers(), "content-type": "application/json"},
            json.dumps(body).encode(), self.timeout_s,
        )
        response = await self.ctx.http.send(request)
        if response.status != 200:
            raise from_response(self.name, response.status, response.headers, response.body)
        text = http_errors.body_text(response.body)
        del response  # the bytes go before the answer is parsed: one copy of its base64 images less
        payload = http_errors.json_body(text)
        del text
        if payload is None:
            raise errors.ProviderBadResponse(f"{self.name} answered 200 with a body that is not JSON", provider=self.name)
        return payload

    async def probe(self) -> dict[str, Any]:
        """GET the model's metadata: proves reachability and the key without generating anything."""
        try:
            headers = await self.auth_headers()
        except errors.ImageWorkerError as exc:
            return {"ok": False, "detail": exc.code}
        request = HttpRequest("GET", self.model_url(self.capabilities.default_model), headers, None, 10.0)
        return await self.probe_request(request, lambda r: from_response(self.name, r.status, r.headers, r.body))


def vertex_configured(ctx: ProviderContext) -> bool:
    return bool(ctx.settings.get("VERTEX_SERVICE_ACCOUNT_JSON")) and ctx.signer is not None


class VertexMixin:
    """Vertex AI: `{base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}`
    on the regional endpoint, `Authorization: Bearer` from the service account."""

    ctx: ProviderContext
    name: str

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)  # type: ignore[call-arg]  # a mixin: the next class in the MRO takes ctx
        creds = parse_credentials(ctx.settings["VERTEX_SERVICE_ACCOUNT_JSON"])
        self.location = ctx.settings.get("VERTEX_LOCATION", "us-central1")
        self.project = ctx.settings.get("VERTEX_PROJECT") or creds["project_id"]
        default = f"https://{self.location}-aiplatform.googleapis.com"
        self.base_url = ctx.settings.get("VERTEX_BASE_URL", default).rstrip("/")
        self.timeout_s = float(ctx.settings.get("VERTEX_TIMEOUT_S", "120"))
        assert ctx.signer is not None
        self.auth = ServiceAccountAuth(creds, ctx.http, ctx.clock, ctx.signer, self.name)

    def url_for(self, model: str, method: str = "") -> str:
        path = f"/v1/projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"
        return self.base_url + path + (f":{method}" if method else "")

    def model_url(self, model: str) -> str:
        """The publisher model's metadata, as google-genai's `models.get` asks it on Vertex AI:
        GET {base}/v1/publishers/google/models/{model}, outside any project or location
        (Vertex's REST reference lists `publishers.models.get` there, not under projects/)."""
        return f"{self.base_url}/v1/publishers/google/models/{model}"

    async def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {await self.auth.token()}"}
