"""What an isolate learns about its providers from the calls it makes, kept in memory
per isolate (never in D1: each isolate judges from its own recent calls):

- `Health`: outcomes and latencies of a provider's last calls (auto mode puts a
  degraded provider last; `GET /v1/providers` shows it);
- `ModelHealth`: models a provider answered "does not exist / retired" for, not
  chosen again by default for `TTL_S` (the answer may have been a misconfigured key
  or project, so it is not forever);
- `CallDurations`: how long recent successful calls took, per provider and model,
  the basis of the estimated progress of providers that do not stream
  (generation/progress.py); failures are left out because a quick refusal says
  nothing about how long an image takes;
- `BreakerView`: the shared breakers (kept in the ledger, not here) as last heard."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from ...ledger_messages import ProviderState

HEALTH_WINDOW = 20  # recent calls kept per provider for the passive health view
TTL_S = 3600.0  # how long a model a provider called gone is skipped
DURATIONS_WINDOW = 20  # successful calls kept per (provider, model)


@dataclass
class Health:
    """Passive view: outcomes and latencies of the last calls made by this isolate."""

    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=HEALTH_WINDOW))
    latencies_ms: deque[int] = field(default_factory=lambda: deque(maxlen=HEALTH_WINDOW))
    consecutive_failures: int = 0
    last_error: str | None = None

    def record(self, ok: bool, latency_ms: int, error_code: str | None = None) -> None:
        self.outcomes.append(ok)
        self.latencies_ms.append(latency_ms)
        self.consecutive_failures = 0 if ok else self.consecutive_failures + 1
        if not ok:
            self.last_error = error_code

    @property
    def degraded(self) -> bool:
        """Three failures in a row: push this provider to the end of auto chains."""
        return self.consecutive_failures >= 3

    def to_dict(self) -> dict[str, Any]:
        n = len(self.outcomes)
        lat = sorted(self.latencies_ms)
        return {
            "recent_calls": n,
            "error_rate": round(1 - sum(self.outcomes) / n, 3) if n else None,
            "p50_latency_ms": lat[n // 2] if n else None,
            "max_latency_ms": lat[-1] if n else None,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "degraded": self.degraded,
        }


class ModelHealth:
    """Models a provider instance reported gone, and since when (monotonic seconds)."""

    def __init__(self) -> None:
        self._gone: dict[tuple[str, str], tuple[float, str]] = {}

    def mark(self, provider: str, model: str, code: str, now: float) -> None:
        self._gone[(provider, model)] = (now, code)

    def unavailable(self, provider: str, now: float) -> frozenset[str]:
        return frozenset(m for (p, m), (at, _) in self._gone.items() if p == provider and now - at < TTL_S)

    def to_dict(self, provider: str, now: float) -> dict[str, Any]:
        return {m: {"since_s": round(now - at, 1), "code": code}
                for (p, m), (at, code) in self._gone.items() if p == provider and now - at < TTL_S}


class CallDurations:
    """Durations of recent successful calls, per (provider, model) and per provider."""

    def __init__(self, window: int = DURATIONS_WINDOW) -> None:
        self.window = window
        self._by_model: dict[tuple[str, str], deque[int]] = {}
        self._by_provider: dict[str, deque[int]] = {}

    def record(self, provider: str, model: str, ms: int) -> None:
        """One successful call of `provider` with `model` that took `ms` milliseconds."""
        for key, table in (((provider, model), self._by_model), (provider, self._by_provider)):
            table.setdefault(key, deque(maxlen=self.window)).append(max(0, int(ms)))  # type: ignore[arg-type]  # the two tables are keyed by the pair and by the name

    def recent(self, provider: str, model: str) -> list[int]:
        """The model's recent durations; the provider's (any model) when the model has none."""
        return list(self._by_model.get((provider, model)) or self._by_provider.get(provider) or ())


class BreakerView:
    """The shared breakers (ledger/breaker.py) as this isolate last heard of them: every ledger
    answer of a generation lists the breakers that are not closed, so an isolate learns them
    on calls it makes anyway. Auto mode skips what is open here without asking; the ledger
    still refuses at the reserve what this isolate did not know yet (a new isolate)."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], tuple[ProviderState, float]] = {}  # -> (ProviderState, heard at, monotonic s)

    def learn(self, states: Iterable[ProviderState], now: float) -> None:
        """`states`: every breaker not closed (absent ones are closed)."""
        self._states = {(st.provider, st.model): (st, now) for st in states}

    def blocked(self, provider: str, model: str, now: float) -> ProviderState | None:
        """The state that keeps `provider`/`model` from being called now, if any."""
        known = self._states.get((provider, model))
        if known is None:
            return None
        state, heard = known
        if state.retry_after_s is None or now - heard >= state.retry_after_s:
            return None  # half-open (the ledger picks the probe), or its wait is over
        return state

    def wait_s(self, state: ProviderState, now: float) -> float:
        known = self._states.get((state.provider, state.model))
        return max(1.0, state.retry_after_s - (now - known[1])) if known else float(state.retry_after_s or 1)
