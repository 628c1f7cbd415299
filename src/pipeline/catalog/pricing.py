"""Cost arithmetic in integer micro-dollars (1_000_000 = $1). The prices themselves
are data in the per-provider catalog modules; overrides.py applies run-time changes."""

from __future__ import annotations

MICROS_PER_USD = 1_000_000


def usd(micros: int) -> str:
    """Display only: 39000 -> '$0.039000'."""
    return f"${micros / MICROS_PER_USD:.6f}"


def tokens_cost(tokens: int, micros_per_million: int) -> int:
    """Cost of `tokens` at a per-1M-token rate, rounded up to the micro-dollar."""
    return -(-tokens * micros_per_million // 1_000_000)


def prompt_tokens_bound(text: str) -> int:
    """A true upper bound for a prompt's tokens before the call: its UTF-8 bytes
    (byte-level BPE never makes a token of less than one byte; bytes / 3 was
    passed by emoji and rare CJK, which tokenise at one token per byte or two)."""
    return len(text.encode()) + PROMPT_OVERHEAD_TOKENS


# Text tokens a provider bills beyond the prompt's own (its instructions around it): a
# 4-character prompt is reported as 50 text tokens (tests/fixtures/openai/generation.json),
# which the bytes alone under-estimated (test_estimates_are_upper_bounds).
PROMPT_OVERHEAD_TOKENS = 100


def tiles(width: int, height: int, tile: int = 512) -> int:
    return -(-width // tile) * -(-height // tile)
