"""API keys: what a key is, how it is made and hashed, and what it may do.

A key is `iwk_` + 256 random bits (base64url). Only its SHA-256 is stored: the
secret has full entropy, so a slow password hash would add nothing but latency.
Lookups go by hash (a leaked timing says nothing about the secret), and the
one direct secret comparison (the legacy `API_TOKEN`) is constant-time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from .. import errors

PREFIX = "iwk_"

# scope -> what it allows. `admin` implies every other scope; `review` implies `read`.
SCOPES = {
    "generate": "create generations and estimates, link images, delete its caller's generations",
    "read": "read its caller's generations and images, providers, usage and budget",
    "review": "read every caller's generations and images, approve or reject images, set entities' primary images"
              " (the review console)",
    "admin": "everything: budget, prices, keys, approvals, any caller's data, acting for another caller",
}
DEFAULT_SCOPES = ("generate", "read")


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison (compares digests, so lengths leak nothing either)."""
    return hmac.compare_digest(hash_secret(given), hash_secret(expected))


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: its caller (from the key, never from the body) and scopes."""

    caller: str
    scopes: frozenset[str]
    kind: str  # key | api_token | open | service
    key_id: str | None = None
    key_name: str | None = None
    daily_budget_micros: int | None = None

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes or (scope == "read" and "review" in self.scopes)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.has(scope):
            raise errors.Forbidden(f"this key lacks the {scope!r} scope", details={"required_scope": scope})

    def acting_caller(self, requested: str | None) -> str:
        """The caller a request is made for: the key's own, unless an admin (or the
        trusted service binding) names another."""
        if requested is None or requested == self.caller:
            return self.caller
        if self.is_admin or self.is_service:
            return requested
        raise errors.Forbidden(
            f"this key acts as caller {self.caller!r} and may not act for {requested!r}", details={"field": "caller"}
        )

    @property
    def is_service(self) -> bool:
        """The app over the service binding: trusted code, acting for the caller it names."""
        return self.kind == "service_binding"

    @property
    def sees_everyone(self) -> bool:
        """Reads every caller's data: admins, the service binding and reviewers."""
        return self.is_admin or self.is_service or "review" in self.scopes

    def sees(self, caller: str) -> bool:
        """May this principal read that caller's data? (auth/ownership.py decides per object.)"""
        return self.sees_everyone or caller == self.caller


def admin_principal(caller: str, kind: str) -> Principal:
    return Principal(caller=caller, scopes=frozenset(SCOPES), kind=kind)


def key_principal(row: dict[str, Any]) -> Principal:
    """The principal of a live key's stored row (storage/keys.py's view of it)."""
    return Principal(caller=row["caller"], scopes=frozenset(row["scopes"]) & frozenset(SCOPES), kind="key",
                     key_id=row["id"], key_name=row["name"], daily_budget_micros=row["daily_budget_micros"])
