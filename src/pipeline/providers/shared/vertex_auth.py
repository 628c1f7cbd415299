"""Google service-account auth for Vertex AI: a JWT signed with the account's key
(RS256, through the `Signer` port), exchanged at the account's `token_uri` for an
access token, cached until shortly before it expires. Keys never leave this module
and never appear in errors."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from ... import errors
from ...ports import Clock, HttpClient, HttpRequest, Signer
from . import http_errors

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIFETIME_S = 3600
REFRESH_EARLY_S = 300  # renew five minutes before expiry: a request may run for minutes


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_credentials(raw: str) -> dict[str, str]:
    """The service-account JSON key file (as a secret); only the fields we use."""
    try:
        info = json.loads(raw)
    except ValueError as exc:
        raise errors.ProviderAuthError("VERTEX_SERVICE_ACCOUNT_JSON is not valid JSON") from exc
    missing = [k for k in ("client_email", "private_key") if not info.get(k)]
    if not isinstance(info, dict) or missing:
        raise errors.ProviderAuthError(f"the service-account key lacks {', '.join(missing)}")
    return {"client_email": info["client_email"], "private_key": info["private_key"],
            "private_key_id": info.get("private_key_id", ""), "project_id": info.get("project_id", ""),
            "token_uri": info.get("token_uri") or "https://oauth2.googleapis.com/token"}


class ServiceAccountAuth:
    def __init__(self, credentials: dict[str, str], http: HttpClient, clock: Clock, signer: Signer, provider: str) -> None:
        self._creds = credentials
        self.http, self.clock, self.signer, self.provider = http, clock, signer, provider
        self._token: str | None = None
        self._expires_at = 0.0  # epoch seconds
        self.exchanges = 0  # token requests made (observable for tests and logs)

    async def assertion(self) -> str:
        now = int(self.clock.now().timestamp())
        header = {"alg": "RS256", "typ": "JWT", "kid": self._creds["private_key_id"]}
        claims = {"iss": self._creds["client_email"], "scope": SCOPE, "aud": self._creds["token_uri"],
                  "iat": now, "exp": now + LIFETIME_S}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = await self.signer.sign_rs256(self._creds["private_key"], signing_input.encode())
        return f"{signing_input}.{_b64url(signature)}"

    async def token(self) -> str:
        now = self.clock.now().timestamp()
        if self._token and now < self._expires_at - REFRESH_EARLY_S:
            return self._token
        body = urlencode({"grant_type": GRANT_TYPE, "assertion": await self.assertion()}).encode()
        response = await self.http.send(HttpRequest("POST", self._creds["token_uri"],
                                                    {"content-type": "application/x-www-form-urlencoded"}, body, 30.0))
        self.exchanges += 1
        payload: dict[str, Any] = http_errors.json_body(response.body) or {}
        if response.status != 200 or not payload.get("access_token"):
            # OAuth errors: {"error": "invalid_grant", "error_description": "..."}; 5xx are transient.
            if response.status >= 500 or response.status == 429:
                raise errors.ProviderUnavailable(f"{self.provider}: token endpoint answered HTTP {response.status}",
                                                 provider=self.provider)
            reason = str(payload.get("error") or f"HTTP {response.status}")[:100]
            raise errors.ProviderAuthError(f"{self.provider}: the service account was refused ({reason})",
                                           provider=self.provider, details={"http_status": response.status})
        self._token = str(payload["access_token"])
        self._expires_at = now + float(payload.get("expires_in") or LIFETIME_S)
        return self._token
