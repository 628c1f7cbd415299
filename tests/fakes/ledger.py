"""Ledger test helpers."""

from __future__ import annotations


def req(request_id: str, estimate: int, caller: str = "app", images: int = 1, cap: int | None = None, provider: str = "openai") -> dict:
    """A reserve request as the pipeline sends it."""
    return {"request_id": request_id, "caller": caller, "provider": provider, "model": "gpt-image-1",
            "images": images, "estimate_micros": estimate, "cap_micros": cap}
