"""One generation's state: the single object the steps of a generation share.

The steps are functions over it, called in one direction: generation.py (the
order of effects) → selection.py (the plan) → attempts.py (per candidate, per
attempt) → calls.py (the provider calls of one attempt) → record.py (R2, D1) →
reservation.py (the ledger: reserve, release, settle). Money spent is changed in
one place (`charge`), so a reader can find every cent a provider may have billed."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..ledger_messages import Outcome
from ..ids import new_id
from ..memory.byte_budget import Hold
from ..models import Event, GenerationRequest
from ..services import Services
from ..storage.store import ImageRow, Store


@dataclass(frozen=True)
class Admitted:
    """What admission decided (admission.py), the one value every lane consumes: the request
    as this principal may make it, its id, the caller it runs as, the API key that asked and
    that key's daily budget (held in the ledger with each reservation), and the request's hash
    (an idempotency key reused for a different request is a conflict)."""

    req: GenerationRequest
    request_id: str
    caller: str
    api_key_id: str | None = None
    key_budget_micros: int | None = None

    @classmethod
    def new(cls, services: Services, req: GenerationRequest, *, api_key_id: str | None = None,
            key_budget_micros: int | None = None) -> Admitted:
        """A fresh request id from the injected clock; the caller from the request or settings."""
        return cls(req, new_id("gen", services.clock.now()), req.caller or services.settings.default_caller,
                   api_key_id, key_budget_micros)

    @property
    def request_hash(self) -> str:
        # try_open_provider says how to treat a failing provider, not what to make
        canonical = self.req.model_dump(mode="json", exclude={"idempotency_key", "try_open_provider"})
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class GenerationState:
    s: Services
    admitted: Admitted
    store: Store
    request_id: str  # the admitted id, or the earlier request's when this one replays it
    partial_images: int = 0  # previews asked for (providers that stream natively)
    progress: bool = False  # estimated `progress` events for providers that do not stream (progress.py)
    replayed: bool = False  # answered from an earlier request with the same idempotency key
    reserved: bool = False  # a ledger reservation is open for this request (reservation.py)
    spent_micros: int = 0  # billed (or possibly billed) by providers so far: changed by `charge` only
    finished: bool = False  # the success is recorded in D1
    stored: list[ImageRow] = field(default_factory=list)  # images in R2, not yet recorded in D1
    lost_images: int = 0  # billed images R2 gave up on with none of the request's stored (outcome.py)
    kept_for_recovery: bool = False  # the success batch gave up with the images in R2: the cron records them
    deadline: float = float("inf")  # the request's, on the monotonic clock (set by attempts.run)
    hold: Hold | None = None  # its image bytes in the isolate's budget (memory/byte_budget.py; set by events())
    outcomes: list[Outcome] = field(default_factory=list)  # provider calls the ledger has not heard of yet

    @classmethod
    def new(cls, services: Services, admitted: Admitted, partial_images: int = 0) -> GenerationState:
        return cls(s=services, admitted=admitted, store=Store(services.db, services.clock),
                   request_id=admitted.request_id, partial_images=max(0, min(partial_images, 3)))

    @property
    def req(self) -> GenerationRequest:
        return self.admitted.req

    @property
    def caller(self) -> str:
        return self.admitted.caller

    @property
    def api_key_id(self) -> str | None:
        return self.admitted.api_key_id

    def take_outcomes(self) -> tuple[Outcome, ...]:
        """The provider calls to report on the next ledger call (breakers ride on it)."""
        taken, self.outcomes = tuple(self.outcomes), []
        return taken

    def charge(self, micros: int) -> None:
        """Add what a provider billed, or may have billed, for one call."""
        self.spent_micros += micros

    def event(self, kind: str, **data: Any) -> Event:
        return Event(type=kind, request_id=self.request_id, data=data)  # type: ignore[arg-type]  # kind is one of Event's Literal types, held as a str

    def ms_since(self, started: float) -> int:
        return max(0, int((self.s.clock.monotonic() - started) * 1000))
