"""Ledger test helpers."""

from __future__ import annotations

from pipeline.ledger_messages import ReserveRequest


def req(request_id: str, estimate: int, caller: str = "app", images: int = 1, cap: int | None = None,
        provider: str = "openai", model: str = "gpt-image-1") -> ReserveRequest:
    """A reserve request as the pipeline sends it."""
    return ReserveRequest(request_id=request_id, caller=caller, provider=provider, model=model,
                          images=images, estimate_micros=estimate, cap_micros=cap)
