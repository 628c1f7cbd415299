"""Settings from Worker vars and secrets (or the local environment).

Secrets (`*_API_KEY`, `API_TOKEN`) are held here and by the providers only;
`public()` is what may be shown, and never contains them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .auth.config import ACCESS_KEYS, AccessConfig

# Every setting the Worker reads (vars and secrets). Only these are copied out of the
# environment, so nothing else (and no unrelated secret) reaches the providers.
KNOWN_KEYS = (
    "API_TOKEN", "REQUIRE_API_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_TIMEOUT_S",
    "GEMINI_API_KEY", "GEMINI_BASE_URL", "GEMINI_TIMEOUT_S", "IMAGEN_PERSON_GENERATION",
    "PUBLIC_BASE_URL", "DEFAULT_PROVIDER", "AUTO_PROVIDER_ORDER", "DEFAULT_CALLER", "MAX_ATTEMPTS_PER_PROVIDER",
    "RETRY_BASE_DELAY_S", "RETRY_MAX_DELAY_S", "REQUEST_TIMEOUT_S", "SLOT_WAIT_S", "STALE_REQUEST_S",
    "PLACEHOLDER_ENABLED",
    # issue 8: catalog tiers, Vertex AI (Imagen, Gemini on Vertex), extra provider instances
    "MODEL_TIER", "VERTEX_SERVICE_ACCOUNT_JSON", "VERTEX_PROJECT", "VERTEX_LOCATION", "VERTEX_BASE_URL",
    "VERTEX_TIMEOUT_S", "VERTEX_GEMINI", "PROVIDER_INSTANCES",
    # issue 9: enrichment, approval, batches and jobs, webhooks, estimated progress
    "ENRICHMENT_ENABLED", "APPROVAL_DEFAULT", "BATCH_CONCURRENCY", "WEBHOOK_SECRET", "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_S", "PROGRESS_INTERVAL_S", "WEBHOOK_ALLOW_LOCAL",
    # issue 20: the economy lane (providers' batch APIs)
    "ECONOMY_POLL_DELAYS_S", "ECONOMY_MAX_POLLS",
) + ACCESS_KEYS


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"setting {key} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    return default if raw in (None, "") else float(raw)


def _choice(env: Mapping[str, str], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(key) or default).lower()
    if value not in allowed:
        raise ValueError(f"setting {key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _delays(env: Mapping[str, str], key: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        values = tuple(float(v) for v in str(raw).split(",") if v.strip())
    except ValueError as exc:
        raise ValueError(f"setting {key} must be comma-separated seconds, got {raw!r}") from exc
    if not values or any(v < 0 or v > 43_200 for v in values):  # a Queue message waits at most 12 h
        raise ValueError(f"setting {key} must list seconds between 0 and 43200, got {raw!r}")
    return values


@dataclass(frozen=True)
class Settings:
    api_token: str | None
    require_token: bool  # refuse API calls when no API_TOKEN is configured (on by default on Cloudflare)
    public_base_url: str  # prefix for image URLs; "" = relative URLs
    default_provider: str | None  # None = auto
    auto_order: tuple[str, ...]
    max_attempts_per_provider: int
    retry_base_delay_s: float
    retry_max_delay_s: float
    request_timeout_s: float
    slot_wait_s: float
    stale_request_s: int
    default_caller: str
    access: AccessConfig = field(default_factory=AccessConfig)  # keys, CORS, image URLs, logs
    enrichment_enabled: bool = True  # narrative context -> prompt (enrich.py); a request may still opt out
    approval_default: str = "pending"  # status of a new image: pending | approved | rejected
    batch_concurrency: int = 4  # batch items one queue consumer runs at once
    webhook_secret: str | None = None  # HMAC key for webhook signatures (a secret); no secret, no webhooks
    webhook_max_attempts: int = 5
    webhook_retry_base_s: float = 2.0  # backoff: base, 2x base, 4x base, ...
    webhook_allow_local: bool = False  # local development only: http and loopback/private webhook hosts
    progress_interval_s: float = 1.0  # estimated progress events on streams of non-streaming providers
    economy_poll_delays_s: tuple[float, ...] = (60.0, 120.0, 300.0, 600.0, 900.0)  # between polls; the last repeats
    economy_max_polls: int = 300  # per provider batch; past it the batch is cancelled and what it finished kept

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        order = env.get("AUTO_PROVIDER_ORDER") or "gemini,openai,imagen,workers-ai,placeholder"
        return cls(
            api_token=env.get("API_TOKEN") or None,
            require_token=(env.get("REQUIRE_API_TOKEN") or "false").lower() in ("1", "true", "yes"),
            public_base_url=(env.get("PUBLIC_BASE_URL") or "").rstrip("/"),
            default_provider=(env.get("DEFAULT_PROVIDER") or None),
            auto_order=tuple(p.strip() for p in order.split(",") if p.strip()),
            max_attempts_per_provider=_int(env, "MAX_ATTEMPTS_PER_PROVIDER", 3),
            retry_base_delay_s=_float(env, "RETRY_BASE_DELAY_S", 0.5),
            retry_max_delay_s=_float(env, "RETRY_MAX_DELAY_S", 20.0),
            request_timeout_s=_float(env, "REQUEST_TIMEOUT_S", 300.0),
            slot_wait_s=_float(env, "SLOT_WAIT_S", 30.0),
            stale_request_s=_int(env, "STALE_REQUEST_S", 900),
            default_caller=env.get("DEFAULT_CALLER") or "default",
            access=AccessConfig.from_env(env),
            enrichment_enabled=(env.get("ENRICHMENT_ENABLED") or "true").lower() in ("1", "true", "yes"),
            approval_default=_choice(env, "APPROVAL_DEFAULT", "pending", ("pending", "approved", "rejected")),
            batch_concurrency=max(1, _int(env, "BATCH_CONCURRENCY", 4)),
            webhook_secret=env.get("WEBHOOK_SECRET") or None,
            webhook_max_attempts=max(1, _int(env, "WEBHOOK_MAX_ATTEMPTS", 5)),
            webhook_retry_base_s=_float(env, "WEBHOOK_RETRY_BASE_S", 2.0),
            webhook_allow_local=(env.get("WEBHOOK_ALLOW_LOCAL") or "false").lower() in ("1", "true", "yes"),
            progress_interval_s=_float(env, "PROGRESS_INTERVAL_S", 1.0),
            economy_poll_delays_s=_delays(env, "ECONOMY_POLL_DELAYS_S", (60.0, 120.0, 300.0, 600.0, 900.0)),
            economy_max_polls=max(1, _int(env, "ECONOMY_MAX_POLLS", 300)),
        )

    def public(self) -> dict[str, object]:
        return {
            "auth_required": self.api_token is not None,
            "default_provider": self.default_provider or "auto",
            "auto_order": list(self.auto_order),
            "max_attempts_per_provider": self.max_attempts_per_provider,
            "request_timeout_s": self.request_timeout_s,
        }
