"""How long recent successful provider calls took, per provider and model: the basis
of the estimated progress of providers that do not stream (generation/progress.py).
Kept per isolate, like the registry's health view; failures are left out because a
quick refusal says nothing about how long an image takes."""

from __future__ import annotations

from collections import deque

WINDOW = 20  # calls kept per (provider, model)


class CallDurations:
    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._by_model: dict[tuple[str, str], deque[int]] = {}
        self._by_provider: dict[str, deque[int]] = {}

    def record(self, provider: str, model: str, ms: int) -> None:
        """One successful call of `provider` with `model` that took `ms` milliseconds."""
        for key, table in (((provider, model), self._by_model), (provider, self._by_provider)):
            table.setdefault(key, deque(maxlen=self.window)).append(max(0, int(ms)))  # type: ignore[index]

    def recent(self, provider: str, model: str) -> list[int]:
        """The model's recent durations; the provider's (any model) when the model has none."""
        return list(self._by_model.get((provider, model)) or self._by_provider.get(provider) or ())
