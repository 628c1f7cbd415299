"""What a provider's batch API looks like to the economy lane (economy/).

An adapter wraps the configured synchronous provider (its key, base URL and HTTP
client) and reuses its request bodies and response parsing: a batch line is the
synchronous request, a result line the synchronous answer. Only the envelope
(upload, create, poll, read results) is the adapter's own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Literal, Protocol

from .. import errors
from .base import ProviderRequest, ProviderResult

State = Literal["running", "completed", "expired", "cancelled", "failed"]
TERMINAL: tuple[State, ...] = ("completed", "expired", "cancelled", "failed")
MAX_LINE_BYTES = 64 * 1024 * 1024  # one result line: an item's images in base64


@dataclass(frozen=True)
class BatchStatus:
    state: State
    provider_status: str  # the provider's own word
    counts: dict[str, int] = field(default_factory=dict)  # total, completed, failed
    error: str | None = None  # a failed batch: why (validation)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class LineOutcome:
    """One item's answer: its result (with standard-price cost) or the typed error."""

    custom_id: str
    result: ProviderResult | None = None
    error: errors.ImageWorkerError | None = None
    part_costs: list[int] = field(default_factory=list)  # standard cost of each provider request, when several


class BatchAdapter(Protocol):
    name: str  # the provider instance

    def line(self, custom_id: str, preq: ProviderRequest) -> dict[str, Any]:
        """The provider's request for one item (stored, then sent as is)."""
        ...

    async def find(self, ref: str) -> str | None:
        """The provider batch carrying our reference, if one was created (a redelivery)."""
        ...

    async def submit(self, ref: str, model: str, lines: list[dict[str, Any]], state: dict[str, Any]) -> str:
        """Create the provider batch; return its id. `state` holds ids learnt on the way
        (e.g. an uploaded file) that the caller records, so a retry reuses them."""
        ...

    async def status(self, provider_id: str) -> BatchStatus: ...

    def results(self, provider_id: str, status: BatchStatus,
                preqs: dict[str, ProviderRequest]) -> AsyncIterator[LineOutcome]:
        """Each finished item once, in any order; items without a line are not finished."""
        ...

    async def cancel(self, provider_id: str) -> None: ...


async def jsonl_lines(chunks: AsyncIterator[bytes], provider: str) -> AsyncIterator[bytes]:
    """Lines of a JSONL body as they arrive: at most one line is held at a time."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(buffer[:end]).strip()
            del buffer[: end + 1]
            if line:
                yield line
        if len(buffer) > MAX_LINE_BYTES:
            raise errors.ProviderBadResponse(f"{provider} sent a result line over {MAX_LINE_BYTES} bytes", provider=provider)
    tail = bytes(buffer).strip()
    if tail:
        yield tail
