"""Typed errors. Each class carries its own policy: HTTP status, whether a retry
of the same provider may help (`retryable`), and whether another provider may be
tried (`fallback`). The pipeline decides by type, never by message text."""

from __future__ import annotations

from typing import Any

from . import redact


class ImageWorkerError(Exception):
    code = "internal_error"
    status = 500
    retryable = False
    fallback = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        retry_after_s: float | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        # Provider text reaches these messages: no secret may leave in them (redact.py).
        message = redact.scrub(message)
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retry_after_s = retry_after_s
        self.details = redact.scrub_details(details) if details else {}

    def to_dict(self) -> dict[str, Any]:
        """The one error shape, for HTTP bodies, RPC results and D1 rows."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "retryable": self.retryable}
        if self.provider:
            body["provider"] = self.provider
        if self.retry_after_s is not None:
            body["retry_after_s"] = self.retry_after_s
        if self.details:
            body["details"] = self.details
        return body


class InvalidRequest(ImageWorkerError):
    code = "invalid_request"
    status = 422


class MalformedBody(InvalidRequest):
    """The body cannot be read at all: not UTF-8, not the JSON or form it claims to be,
    or nested deeper than the API reads."""

    code = "malformed_body"
    status = 400


class PayloadTooLarge(InvalidRequest):
    """The body is larger than the route takes (api/body_limits.py); refused before or
    while it is read, never held whole."""

    code = "payload_too_large"
    status = 413


class MethodNotAllowed(InvalidRequest):
    code = "method_not_allowed"
    status = 405


class Unauthorized(ImageWorkerError):
    code = "unauthorized"
    status = 401


class Forbidden(ImageWorkerError):
    """A valid key that may not do this (missing scope, another caller's data)."""

    code = "forbidden"
    status = 403


class NotFound(ImageWorkerError):
    code = "not_found"
    status = 404


class Conflict(ImageWorkerError):
    """The idempotency key belongs to a request still running, or to a different request."""

    code = "conflict"
    status = 409


class BudgetExceeded(ImageWorkerError):
    """The reservation would pass a budget or the per-request cap."""

    code = "budget_exceeded"
    status = 402


class CapacityTimeout(ImageWorkerError):
    """No concurrency slot came free within the wait limit."""

    code = "capacity_timeout"
    status = 503
    fallback = True  # another provider's slots may be free; the wait itself was the retry


class ProviderError(ImageWorkerError):
    """Base for failures attributed to a provider."""

    code = "provider_error"
    status = 502


class ProviderUnavailable(ProviderError):
    """429, 5xx, connection failures: transient, worth a retry or another provider."""

    code = "provider_unavailable"
    status = 503
    retryable = True
    fallback = True


class ProviderRateLimited(ProviderUnavailable):
    code = "provider_rate_limited"
    status = 429


class ProviderTimeout(ProviderUnavailable):
    code = "provider_timeout"
    status = 504


class ProviderQuotaExhausted(ProviderError):
    """A sticky quota (e.g. Gemini's daily 429): retrying the same provider is futile today."""

    code = "provider_quota_exhausted"
    status = 429
    fallback = True


class ProviderAuthError(ProviderError):
    """401/403 from the provider: our key is wrong or lacks access. Never echo the key."""

    code = "provider_auth_error"
    status = 502
    fallback = True


class ProviderBadResponse(ProviderError):
    """The provider answered 2xx with something we cannot read."""

    code = "provider_bad_response"
    status = 502
    fallback = True


class ProviderInvalidRequest(ProviderError):
    """The provider rejected the request as invalid (400): same input fails everywhere alike."""

    code = "provider_invalid_request"
    status = 422


class ProviderRefused(ProviderError):
    """Safety or policy refusal. Final: not retried, and not laundered through another provider."""

    code = "provider_refused"
    status = 422


class TransformFailed(ImageWorkerError):
    """The image transformer (Cloudflare Images binding, Pillow locally) refused or failed."""

    code = "transform_failed"
    status = 502


class EconomyOnly(InvalidRequest):
    """`lane: economy_only` and an item no provider's batch API serves: nothing was queued."""

    code = "economy_only"


class BatchUnfinished(ImageWorkerError):
    """A provider batch ended (expired, cancelled, failed) before this item was done: not billed."""

    code = "provider_batch_unfinished"
    status = 504


class BindingUnavailable(ImageWorkerError):
    """Base for our own bindings failing (D1, R2, the ledger Durable Object, the queue):
    transient on Cloudflare, so worth a retry after `retry_after_s`. Never a provider's fault,
    so never a reason to fall back to another provider."""

    code = "binding_unavailable"
    status = 503
    retryable = True
    default_retry_after_s = 5.0

    def __init__(self, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("retry_after_s", self.default_retry_after_s)
        super().__init__(message, **kwargs)


class StorageUnavailable(BindingUnavailable):
    """D1 or R2 failed (after the retries storage gets, storage_retry.py)."""

    code = "storage_unavailable"


class LedgerUnavailable(BindingUnavailable):
    """The ledger (the budget Durable Object) could not be reached: nothing is spent blind."""

    code = "ledger_unavailable"


class QueueUnavailable(BindingUnavailable):
    """The JOBS queue is not configured or refused the messages: nothing was enqueued."""

    code = "queue_unavailable"


class ModelUnavailable(ProviderError):
    """The model is shut down, retired or unknown to the provider. Another model or
    provider may serve; retrying this one cannot. `details.replacement` names the successor."""

    code = "model_unavailable"
    status = 422
    fallback = True


class UnsupportedByProvider(ImageWorkerError):
    """The chosen provider cannot do what was asked (e.g. edit with a mask)."""

    code = "unsupported"
    status = 422


# The code of an HTTP error the framework raises itself (routing, body parsing), by status;
# any other status is `http_error`. Every code the API answers is in the README's table.
HTTP_CODES = {400: MalformedBody.code, 405: MethodNotAllowed.code, 413: PayloadTooLarge.code}
HTTP_ERROR = "http_error"


def _subclasses(cls: type[ImageWorkerError]) -> list[type[ImageWorkerError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


def from_dict(body: dict[str, Any]) -> ImageWorkerError:
    """Rebuild a typed error from its stored shape (e.g. to replay an idempotent request)."""
    by_code = {c.code: c for c in _subclasses(ImageWorkerError)}
    cls = by_code.get(str(body.get("code")), ImageWorkerError)
    exc = cls(str(body.get("message") or cls.code), provider=body.get("provider"), details=dict(body.get("details") or {}))
    if cls is ImageWorkerError:
        exc.code = str(body.get("code") or "internal_error")
    return exc
