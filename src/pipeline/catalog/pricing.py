"""Cost arithmetic in integer micro-dollars (1_000_000 = $1). The prices themselves
are data in the per-provider catalog modules; overrides.py applies run-time changes."""

from __future__ import annotations

from . import PRICES_AS_OF  # noqa: F401 - re-exported for older callers

MICROS_PER_USD = 1_000_000


def usd(micros: int) -> str:
    """Display only: 39000 -> '$0.039000'."""
    return f"${micros / MICROS_PER_USD:.6f}"


def tokens_cost(tokens: int, micros_per_million: int) -> int:
    """Cost of `tokens` at a per-1M-token rate, rounded up to the micro-dollar."""
    return -(-tokens * micros_per_million // 1_000_000)


def prompt_tokens_bound(text: str) -> int:
    """An upper bound for a prompt's tokens before the call: UTF-8 bytes / 3
    (English runs ~4 characters a token; this leaves room for other scripts)."""
    return -(-len(text.encode()) // 3)


def tiles(width: int, height: int, tile: int = 512) -> int:
    return -(-width // tile) * -(-height // tile)
