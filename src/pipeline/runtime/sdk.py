"""A fix to workers-runtime-sdk, installed once at import by entry.py."""

from __future__ import annotations

from typing import Any

from .scope import wait_until as owned_wait_until


def install_sdk_fixes() -> None:
    """workers-runtime-sdk's ASGI bridge keeps a streaming response's app task alive with
    `wait_until(task)`, which passes a borrowed proxy (scope.wait_until says why that fails).
    It imports `wait_until` from `workers` at call time, so a module attribute there takes its place."""
    import workers

    sdk_getattr = workers.__getattr__  # resolves cloudflare:workers' waitUntil on use, not at import

    def wait_until(awaitable: Any) -> None:
        owned_wait_until(sdk_getattr("wait_until"), awaitable)

    workers.wait_until = workers.waitUntil = wait_until
