"""Property test: random interleavings of reserve / settle / release / expiry /
slots across many requests, with random provider outcomes, against the real
ledger over sqlite3. After every step the money and lease invariants hold."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from local.ledger import SqliteSqlStorage
from pipeline.ledger.core import LedgerCore, utc_day_ms

BUDGET = 1_000_000
LEASE_S = 60
START_MS = 1_795_000_000_000  # a fixed UTC instant; days roll over as time advances


class LedgerMachine(RuleBasedStateMachine):
    requests = Bundle("requests")

    @initialize(budget=st.integers(50_000, BUDGET), caller_budget=st.one_of(st.none(), st.integers(10_000, BUDGET)),
                 global_slots=st.integers(1, 4), provider_slots=st.integers(1, 3))
    def setup(self, budget, caller_budget, global_slots, provider_slots):
        self.core = LedgerCore(SqliteSqlStorage())
        self.core.put_config({
            "daily_budget_micros": budget, "default_caller_daily_budget_micros": caller_budget,
            "global_concurrency": global_slots, "provider_concurrency": {"gemini": provider_slots},
            "reservation_lease_s": LEASE_S, "slot_lease_s": LEASE_S,
        })
        self.budget, self.caller_budget = budget, caller_budget
        self.global_slots, self.provider_slots = global_slots, provider_slots
        self.now = START_MS
        self.counter = 0
        self.closed: dict[str, int] = {}  # request id -> number of terminal transitions seen

    # --- actions -------------------------------------------------------------

    @rule(target=requests, estimate=st.integers(0, 400_000), caller=st.sampled_from(["a", "b", "c"]),
          provider=st.sampled_from(["openai", "gemini"]))
    def reserve(self, estimate, caller, provider):
        self.counter += 1
        rid = f"r{self.counter}"
        answer = self.core.reserve({"request_id": rid, "caller": caller, "provider": provider, "model": "m",
                                    "images": 1, "estimate_micros": estimate}, self.now)
        if answer["ok"]:
            assert answer["reserved_micros"] == estimate
            return rid
        assert answer["reason"] in ("daily_budget", "caller_budget")
        return f"refused:{rid}"

    @rule(rid=consumes(requests), fraction=st.integers(0, 100), provider_ok=st.booleans())
    def finish(self, rid, fraction, provider_ok):
        """The provider call ended: billed (at most the estimate) or failed (released)."""
        if rid.startswith("refused:"):
            return
        row = self.core._reservation(rid)
        if row["state"] != "reserved":
            return  # its lease expired: the holder is gone and never reports back
        if provider_ok:
            self.core.settle(rid, row["reserved_micros"] * fraction // 100, {"images": 1}, self.now)
        else:
            self.core.release(rid, "provider_unavailable", self.now)
        self.closed[rid] = self.closed.get(rid, 0) + 1
        # a retried settle / release after the end changes nothing
        before = self._totals()
        self.core.settle(rid, 10**9, None, self.now) if provider_ok else self.core.release(rid, "again", self.now)
        assert self._totals() == before

    @rule(seconds=st.integers(1, 3 * LEASE_S))
    def time_passes(self, seconds):
        self.now += seconds * 1000
        self.core.expire(self.now)

    @rule(n=st.integers(0, 50), provider=st.sampled_from(["openai", "gemini"]))
    def take_slot(self, n, provider):
        self.core.try_acquire(f"s{n}", provider, self.now)

    @rule(n=st.integers(0, 50), provider=st.sampled_from(["openai", "gemini"]))
    def give_slot(self, n, provider):
        self.core.release_slot(f"s{n}", provider)

    # --- invariants ----------------------------------------------------------

    def _totals(self):
        return self.core.sql.exec(
            "SELECT state, COUNT(*) AS n, SUM(reserved_micros) AS r, SUM(charged_micros) AS c FROM reservations GROUP BY state")

    @invariant()
    def money_never_passes_the_budget(self):
        day = utc_day_ms(self.now)
        spent, reserved = self.core._held(day)
        assert spent <= self.budget
        assert spent + reserved <= self.budget
        if self.caller_budget is not None:
            for caller in ("a", "b", "c"):
                c_spent, c_reserved = self.core._held(day, caller)
                assert c_spent + c_reserved <= self.caller_budget

    @invariant()
    def no_lease_outlives_its_expiry(self):
        self.core.expire(self.now)
        assert not self.core.sql.exec("SELECT 1 FROM reservations WHERE state = 'reserved' AND expires_ms <= ?", self.now)
        assert not self.core.sql.exec("SELECT 1 FROM slots WHERE expires_ms <= ?", self.now)

    @invariant()
    def slots_respect_the_limits(self):
        total = self.core.sql.exec("SELECT COUNT(*) AS n FROM slots")[0]["n"]
        gemini = self.core.sql.exec("SELECT COUNT(*) AS n FROM slots WHERE provider = 'gemini'")[0]["n"]
        assert total <= self.global_slots and gemini <= self.provider_slots

    @invariant()
    def every_request_ends_exactly_once(self):
        assert all(n == 1 for n in self.closed.values())
        events = self.core.sql.exec(
            "SELECT request_id, COUNT(*) AS n FROM ledger_events WHERE kind IN ('settled', 'released', 'expired')"
            " GROUP BY request_id")
        assert all(e["n"] == 1 for e in events)
        settled = self.core.sql.exec("SELECT charged_micros, reserved_micros FROM reservations WHERE state = 'settled'")
        assert all(r["charged_micros"] <= r["reserved_micros"] for r in settled)


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestLedgerProperties = LedgerMachine.TestCase
