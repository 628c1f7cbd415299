"""Access settings (CORS, image URLs, request logs), read from Worker vars/secrets."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping

ACCESS_KEYS = ("CORS_ORIGINS", "IMAGE_URL_SECRET", "SIGNED_URL_TTL_S", "PUBLIC_IMAGES", "LOG_LEVEL")

_MAX_TTL_S = 7 * 86400  # a signed URL is a bearer credential: keep it short-lived


def _flag(raw: str | None, default: bool) -> bool:
    return default if raw in (None, "") else raw.strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class AccessConfig:
    cors_origins: tuple[str, ...] = ()  # exact origins ("https://app.example.com"); "*" allows any
    image_url_secret: str | None = None  # HMAC key for signed image URLs
    signed_url_ttl_s: int = 900
    public_images: bool = True  # GET /v1/images/{id} without key or signature
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AccessConfig:
        origins = tuple(o.strip().rstrip("/") for o in (env.get("CORS_ORIGINS") or "").split(",") if o.strip())
        ttl = int(env.get("SIGNED_URL_TTL_S") or 900)
        if not 1 <= ttl <= _MAX_TTL_S:
            raise ValueError(f"SIGNED_URL_TTL_S must be between 1 and {_MAX_TTL_S}")
        # Without its own secret, the signing key is derived from API_TOKEN (never the token itself).
        secret = env.get("IMAGE_URL_SECRET") or None
        if secret is None and env.get("API_TOKEN"):
            secret = hmac.new(env["API_TOKEN"].encode(), b"image-url-signing", hashlib.sha256).hexdigest()
        return cls(
            cors_origins=origins,
            image_url_secret=secret,
            signed_url_ttl_s=ttl,
            public_images=_flag(env.get("PUBLIC_IMAGES"), True),
            log_level=(env.get("LOG_LEVEL") or "INFO").upper(),
        )

    def allows_origin(self, origin: str) -> bool:
        return "*" in self.cors_origins or origin.rstrip("/") in self.cors_origins
