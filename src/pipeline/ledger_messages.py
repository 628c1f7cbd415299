"""The Ledger port's requests and answers (ports.Ledger): plain frozen dataclasses.

They cross the Durable Object boundary as JSON-able dicts, turned back into these
types on the far side by `ledger/wire.py`, so no code on either side reads a dict
for a field. Standard library only: the runtime package imports them too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- what a provider call did: the breaker's input (ledger/breaker.py) -----------


@dataclass(frozen=True)
class Outcome:
    """One provider call, as the attempt saw it. `unwell`: the failure says the provider is
    unwell (timeouts, 5xx, connection errors, a 429 without a Retry-After); a bad request or a
    safety refusal is not. `retry_after_s`: the provider asked us to hold back that long."""

    provider: str
    model: str
    ok: bool
    code: str | None = None
    latency_ms: int = 0
    unwell: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True)
class ProviderState:
    """A provider (instance) and model's breaker, as the ledger answers it."""

    provider: str
    model: str
    state: str  # closed | open | half_open
    since_ms: int
    retry_after_s: float | None = None  # until the half-open probe (open), or the provider's own hold
    calls: int = 0  # recent calls within the window
    failures: int = 0  # of them, failures that count
    held_until_ms: int | None = None  # a 429's Retry-After, for every isolate


# --- money ----------------------------------------------------------------------


@dataclass(frozen=True)
class SlotRequest:
    provider: str
    wait_s: float = 0.0


@dataclass(frozen=True)
class ReserveRequest:
    """Hold `estimate_micros` (this attempt's own estimate plus what earlier attempts cost)."""

    request_id: str
    estimate_micros: int
    caller: str = "default"
    provider: str = ""
    model: str = ""
    images: int = 1
    attempt_estimate_micros: int | None = None  # the caps apply to this (None: the estimate)
    cap_micros: int | None = None
    hold_s: float = 0.0
    key_id: str | None = None
    key_budget_micros: int | None = None
    key_requests_per_minute: int | None = None
    lane: str = "standard"
    slot: SlotRequest | None = None
    outcomes: tuple[Outcome, ...] = ()  # earlier attempts' calls not yet reported
    try_open_provider: bool = False  # the caller asked to call a provider whose breaker is open


@dataclass(frozen=True)
class Remaining:
    day: str
    global_micros: int
    caller_micros: int | None = None


@dataclass(frozen=True)
class SlotAnswer:
    ok: bool
    waited_ms: int = 0
    confirm: bool = False  # handed over while queued: a claim until asked again
    reason: str | None = None  # timeout | rate_limited
    message: str | None = None
    retry_after_s: float | None = None


@dataclass(frozen=True)
class ReserveAnswer:
    ok: bool
    reason: str | None = None  # why not: request_cap, daily_budget, caller_budget, key_budget, closed, ...
    message: str | None = None
    already: bool = False
    reserved_micros: int = 0
    remaining: Remaining | None = None
    slot: SlotAnswer | None = None
    retry_after_s: float | None = None  # for refusals that pass with time (a breaker, a rate)
    probe: bool = False  # this attempt is the half-open breaker's one probe
    providers: tuple[ProviderState, ...] = ()  # every breaker that is not closed


@dataclass(frozen=True)
class SettleRequest:
    """Charge what was (or may have been) billed; `caller` … `key_id` are used only when the
    ledger never saw the reservation. `note` goes to the ledger's event log, nowhere else.
    Reconciliation sends D1's costed requests as these too."""

    request_id: str
    actual_micros: int
    caller: str | None = None
    provider: str | None = None
    model: str | None = None
    images: int | None = None
    key_id: str | None = None
    note: dict[str, Any] = field(default_factory=dict)
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True)
class SettleAnswer:
    charged_micros: int
    difference_micros: int
    already_settled: bool
    providers: tuple[ProviderState, ...] = ()


@dataclass(frozen=True)
class ReleaseRequest:
    request_id: str
    reason: str
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True)
class ReleaseAnswer:
    already: bool
    state: str | None
    providers: tuple[ProviderState, ...] = ()


@dataclass(frozen=True)
class ReconcileAnswer:
    reconciled: int
    request_ids: tuple[str, ...] = ()


# --- concurrency ------------------------------------------------------------------


@dataclass(frozen=True)
class SlotRelease:
    request_id: str
    provider: str
    outcomes: tuple[Outcome, ...] = ()


@dataclass(frozen=True)
class SlotReleased:
    released: int
    providers: tuple[ProviderState, ...] = ()


# --- reports --------------------------------------------------------------------


@dataclass(frozen=True)
class UsageReport:
    """`days`: per UTC day and provider/model; `budget`: today's status (reports.py); both
    are what the API answers as they are."""

    days: list[dict[str, Any]]
    budget: dict[str, Any]


@dataclass(frozen=True)
class SweepAnswer:
    expired_reservations: int
    expired_slots: int
    pruned: dict[str, int] = field(default_factory=dict)
