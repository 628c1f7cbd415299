"""Models a provider answered "does not exist / retired" for, per provider instance.

Such a model is not chosen again by default for `TTL_S` (the answer may have
been a misconfigured key or project, so it is not forever)."""

from __future__ import annotations

from typing import Any

TTL_S = 3600.0


class ModelHealth:
    def __init__(self) -> None:
        self._gone: dict[tuple[str, str], tuple[float, str]] = {}

    def mark(self, provider: str, model: str, code: str, now: float) -> None:
        self._gone[(provider, model)] = (now, code)

    def unavailable(self, provider: str, now: float) -> frozenset[str]:
        return frozenset(m for (p, m), (at, _) in self._gone.items() if p == provider and now - at < TTL_S)

    def to_dict(self, provider: str, now: float) -> dict[str, Any]:
        return {m: {"since_s": round(now - at, 1), "code": code}
                for (p, m), (at, code) in self._gone.items() if p == provider and now - at < TTL_S}
