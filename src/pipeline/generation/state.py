"""One generation's state: the single object the steps of a generation share.

The steps are functions over it, called in one direction: generation.py (the
order of effects) → selection.py (the plan) → attempts.py (per candidate, per
attempt) → calls.py (the provider calls of one attempt) → record.py (R2, D1) →
reservation.py (the ledger: reserve, release, settle). Money spent is changed in
one place (`charge`), so a reader can find every cent a provider may have billed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ids import new_id
from ..memory.byte_budget import Hold
from ..models import Event, GenerationRequest
from ..services import Services
from ..storage.store import ImageRow, Store


@dataclass
class GenerationState:
    s: Services
    req: GenerationRequest
    store: Store
    request_id: str
    caller: str
    partial_images: int = 0  # previews asked for (providers that stream natively)
    api_key_id: str | None = None  # the API key that asked (admission.py): recorded on the row
    key_budget_micros: int | None = None  # its daily budget, held in the ledger with each reservation
    progress: bool = False  # estimated `progress` events for providers that do not stream (progress.py)
    replayed: bool = False  # answered from an earlier request with the same idempotency key
    reserved: bool = False  # a ledger reservation is open for this request (reservation.py)
    spent_micros: int = 0  # billed (or possibly billed) by providers so far: changed by `charge` only
    finished: bool = False  # the success is recorded in D1
    stored: list[ImageRow] = field(default_factory=list)  # images in R2, not yet recorded in D1
    deadline: float = float("inf")  # the request's, on the monotonic clock (set by attempts.run)
    hold: Hold | None = None  # its image bytes in the isolate's budget (memory/byte_budget.py; set by events())

    @classmethod
    def new(cls, services: Services, req: GenerationRequest, partial_images: int = 0) -> GenerationState:
        """A fresh request: its id from the injected clock, its caller from the request or settings."""
        return cls(
            s=services, req=req, store=Store(services.db, services.clock),
            request_id=new_id("gen", services.clock.now()),
            caller=req.caller or services.settings.default_caller,
            partial_images=max(0, min(partial_images, 3)),
        )

    def charge(self, micros: int) -> None:
        """Add what a provider billed, or may have billed, for one call."""
        self.spent_micros += micros

    def event(self, kind: str, **data: Any) -> Event:
        return Event(type=kind, request_id=self.request_id, data=data)  # type: ignore[arg-type]  # kind is one of Event's Literal types, held as a str

    def ms_since(self, started: float) -> int:
        return max(0, int((self.s.clock.monotonic() - started) * 1000))
