"""The batch adapter of a configured provider instance, by its kind (data, not elif)."""

from __future__ import annotations

from typing import Callable

from ...providers.base import ImageProvider
from ...providers.batch_base import BatchAdapter
from ...providers.gemini_batch import GeminiBatch
from ...providers.openai_batch import OpenAIBatch

ADAPTERS: dict[str, Callable[[ImageProvider], BatchAdapter]] = {
    "openai": OpenAIBatch,  # type: ignore[dict-item]  # each class takes the concrete provider it adapts
    "gemini": GeminiBatch,  # type: ignore[dict-item]  # each class takes the concrete provider it adapts
}


def adapter_for(provider: ImageProvider) -> BatchAdapter | None:
    make = ADAPTERS.get(provider.kind)
    return make(provider) if make is not None else None
