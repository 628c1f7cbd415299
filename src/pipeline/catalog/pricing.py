"""Price tables, in integer micro-dollars (1_000_000 = $1), and cost arithmetic.

List prices as published by each provider; `PRICES_AS_OF` says when they were
last checked. Estimates before a call use the per-image tables (worst case
when quality is `auto`); the cost after a call comes from the usage the
provider reports (tokens) where it reports any, else images returned × price.
Token rates are micro-dollars per 1M tokens so that fractional cents stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2026-11-24"

MICROS_PER_USD = 1_000_000


def usd(micros: int) -> str:
    """Display only: 39000 -> '$0.039000'."""
    return f"${micros / MICROS_PER_USD:.6f}"


def tokens_cost(tokens: int, micros_per_million: int) -> int:
    """Cost of `tokens` at a per-1M-token rate, rounded up to the micro-dollar."""
    return -(-tokens * micros_per_million // 1_000_000)


@dataclass(frozen=True)
class TokenRates:
    """Micro-dollars per 1M tokens."""

    text_in: int
    image_in: int
    image_out: int
    text_out: int = 0


# --- OpenAI GPT Image: per image by quality and size ------------------------------------
# sizes: 1024x1024, then the 3:2 and 2:3 sizes (same price).
OPENAI_PER_IMAGE: dict[str, dict[str, dict[str, int]]] = {
    "gpt-image-1": {
        "low": {"1024x1024": 11_000, "1536x1024": 16_000, "1024x1536": 16_000},
        "medium": {"1024x1024": 42_000, "1536x1024": 63_000, "1024x1536": 63_000},
        "high": {"1024x1024": 167_000, "1536x1024": 250_000, "1024x1536": 250_000},
    },
    "gpt-image-1-mini": {
        "low": {"1024x1024": 5_000, "1536x1024": 6_000, "1024x1536": 6_000},
        "medium": {"1024x1024": 11_000, "1536x1024": 15_000, "1024x1536": 15_000},
        "high": {"1024x1024": 36_000, "1536x1024": 52_000, "1024x1536": 52_000},
    },
    "gpt-image-1.5": {
        "low": {"1024x1024": 9_000, "1536x1024": 13_000, "1024x1536": 13_000},
        "medium": {"1024x1024": 34_000, "1536x1024": 50_000, "1024x1536": 50_000},
        "high": {"1024x1024": 133_000, "1536x1024": 200_000, "1024x1536": 200_000},
    },
}

OPENAI_TOKEN_RATES: dict[str, TokenRates] = {
    "gpt-image-1": TokenRates(text_in=5_000_000, image_in=10_000_000, image_out=40_000_000),
    "gpt-image-1-mini": TokenRates(text_in=2_000_000, image_in=2_500_000, image_out=8_000_000),
    "gpt-image-1.5": TokenRates(text_in=5_000_000, image_in=8_000_000, image_out=32_000_000),
}

# Image output tokens per image by quality and size (the basis of the per-image prices).
# Billing is by tokens, and at some sizes tokens × rate exceeds the rounded table
# price (medium 1024x1536: 1584 × $40/1M = $0.06336 > $0.063), so estimates take
# the larger of the two.
OPENAI_OUTPUT_TOKENS: dict[str, dict[str, int]] = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}


def prompt_tokens_bound(text: str) -> int:
    """A true upper bound for a prompt's tokens before the call: its UTF-8 bytes
    (byte-level BPE never makes a token of less than one byte; bytes / 3 was
    passed by emoji and rare CJK, which tokenise at one token per byte or two)."""
    return len(text.encode()) + PROMPT_OVERHEAD_TOKENS


# Text tokens a provider bills beyond the prompt's own (its instructions around it): a
# 4-character prompt is reported as 50 text tokens (tests/fixtures/openai/generation.json),
# which the bytes alone under-estimated (test_estimates_are_upper_bounds).
PROMPT_OVERHEAD_TOKENS = 100


# Input images of an edit are billed as image input tokens; this bounds them for
# the pre-call estimate (a 1024x1024 input is ~1,000 tokens at high fidelity ≈ 4,160 worst case).
OPENAI_EDIT_INPUT_TOKENS_PER_IMAGE = 4_160

# Streaming: "each partial image adds 100 image output tokens" (OpenAI image generation guide).
OPENAI_PARTIAL_IMAGE_OUTPUT_TOKENS = 100

# --- Gemini 2.5 Flash Image ---------------------------------------------------------------
GEMINI_TOKEN_RATES: dict[str, TokenRates] = {
    "gemini-2.5-flash-image": TokenRates(text_in=300_000, image_in=300_000, image_out=30_000_000, text_out=2_500_000),
}
GEMINI_TOKENS_PER_IMAGE = 1_290  # every 1K output image is 1290 tokens
# Estimate per image: 1290 × $30/1M = 38_700, plus room for a prompt of up to 1,000 tokens.
GEMINI_PER_IMAGE = {"gemini-2.5-flash-image": 39_000}
# An input image of an edit: up to ~3,300 input tokens at $0.30/1M.
GEMINI_INPUT_IMAGE_MICROS = 1_000

# --- Imagen 4 (per returned image; filtered images are not billed) -------------------------
IMAGEN_PER_IMAGE = {
    "imagen-4.0-fast-generate-001": 20_000,
    "imagen-4.0-generate-001": 40_000,
    "imagen-4.0-ultra-generate-001": 60_000,
}

# --- Workers AI: FLUX.1 [schnell], the model page's unit prices -----------------------------
FLUX_SCHNELL_MICROS_PER_TILE = 53  # $0.000053 per 512x512 tile
FLUX_SCHNELL_MICROS_PER_STEP = 110  # $0.00011 per step


def flux_schnell_micros(width: int, height: int, steps: int) -> int:
    tiles = -(-width // 512) * -(-height // 512)
    return tiles * FLUX_SCHNELL_MICROS_PER_TILE + steps * FLUX_SCHNELL_MICROS_PER_STEP
