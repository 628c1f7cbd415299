"""Property test: random interleavings of reserve / re-reserve / settle / release /
expiry / slots across many requests, with the outcomes real providers have —
billed, billed more than estimated, billing-uncertain (charged at the estimate),
failed — plus leases expiring while a call runs, waiters that vanish with their
claim, and process crashes with recovery, against the real ledger over sqlite3.
After every step the money and lease invariants hold."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from local.ledger import SqliteSqlStorage
from pipeline.ledger import schema
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
        self.beyond: dict[str, int] = {}  # day -> spend the documented bound allows past the budget

    # --- actions -------------------------------------------------------------

    @rule(target=requests, estimate=st.integers(0, 400_000), caller=st.sampled_from(["a", "b", "c"]),
          provider=st.sampled_from(["openai", "gemini"]), hold_s=st.sampled_from([0, 30, 200]))
    def reserve(self, estimate, caller, provider, hold_s):
        self.counter += 1
        rid = f"r{self.counter}"
        answer = self.core.reserve({"request_id": rid, "caller": caller, "provider": provider, "model": "m",
                                    "images": 1, "estimate_micros": estimate, "hold_s": hold_s}, self.now)
        if answer["ok"]:
            assert answer["reserved_micros"] == estimate
            return rid
        assert answer["reason"] in ("daily_budget", "caller_budget")
        return f"refused:{rid}"

    @rule(rid=consumes(requests), outcome=st.sampled_from(["billed", "overrun", "uncertain", "failed"]),
          fraction=st.integers(0, 100))
    def finish(self, rid, outcome, fraction):
        """The provider call ended: billed (at most the estimate, or more: an overrun),
        billing-uncertain (charged at the estimate), or failed before any work (released).
        A holder whose lease expired while its call ran still reports back (a late settle)."""
        if rid.startswith("refused:"):
            return
        row = self.core._reservation(rid)
        if row["state"] not in ("reserved", "expired"):
            return
        reserved = row["reserved_micros"]
        charge = {"billed": reserved * fraction // 100, "overrun": reserved + 1 + fraction * 100,
                  "uncertain": reserved, "failed": 0}[outcome]
        if outcome == "failed":
            self.core.release(rid, "provider_unavailable", self.now)
        else:
            late = row["state"] == "expired"
            self.core.settle(rid, charge, {"images": 1}, self.now)
            past = charge if late else max(0, charge - reserved)  # the documented overrun bound
            self.beyond[row["day"]] = self.beyond.get(row["day"], 0) + past
        if row["state"] == "reserved":
            self.closed[rid] = self.closed.get(rid, 0) + 1
        # a retried settle / release after the end changes nothing
        before = self._totals()
        self.core.settle(rid, 10**9, None, self.now) if outcome != "failed" else self.core.release(rid, "again", self.now)
        assert self._totals() == before

    @rule(rid=requests, new_estimate=st.integers(0, 400_000))
    def fall_back(self, rid, new_estimate):
        """A fallback re-reserves its own estimate: the difference is checked, or refused."""
        if rid.startswith("refused:") or self.core._reservation(rid)["state"] != "reserved":
            return
        answer = self.core.reserve({"request_id": rid, "estimate_micros": new_estimate}, self.now)
        row = self.core._reservation(rid)
        if answer["ok"] and row["state"] == "reserved":
            assert row["reserved_micros"] == new_estimate

    @rule(n=st.integers(0, 50), provider=st.sampled_from(["openai", "gemini"]))
    def waiter_vanishes(self, n, provider):
        """A slot handed to a queued waiter who is gone: a claim nobody confirms."""
        self.core.try_acquire(f"w{n}", provider, self.now, claim=True)

    @rule()
    def process_crashes_and_recovers(self):
        self.core.recover_after_restart(self.now)
        assert not self.core.sql.exec("SELECT 1 FROM slots")

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
        allowed = self.budget + self.beyond.get(day, 0)
        assert spent <= allowed
        assert spent + reserved <= allowed
        if self.caller_budget is not None:
            for caller in ("a", "b", "c"):
                c_spent, c_reserved = self.core._held(day, caller)
                assert c_spent + c_reserved <= self.caller_budget + self.beyond.get(day, 0)

    @invariant()
    def day_totals_equal_the_rows(self):
        rows = self.core.sql.exec(
            "SELECT day, caller, SUM(CASE WHEN state = 'settled' THEN charged_micros ELSE 0 END) AS spent,"
            " SUM(CASE WHEN state = 'reserved' THEN reserved_micros ELSE 0 END) AS reserved"
            " FROM reservations GROUP BY day, caller")
        for r in rows:
            assert schema.held(self.core.sql, r["day"], r["caller"]) == (r["spent"], r["reserved"])

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
        # closed once: settled or released, never both, never twice; a lease that expired under
        # a running call may still be followed by that call's (late) settle
        events = self.core.sql.exec(
            "SELECT request_id, SUM(kind IN ('settled', 'released')) AS ends, SUM(kind = 'expired') AS expiries"
            " FROM ledger_events WHERE kind IN ('settled', 'released', 'expired') GROUP BY request_id")
        assert all(e["ends"] <= 1 and e["expiries"] <= 1 for e in events)
        overruns = {r["request_id"] for r in self.core.sql.exec("SELECT request_id FROM ledger_events WHERE kind = 'overrun'")}
        settled = self.core.sql.exec(
            "SELECT request_id, charged_micros, reserved_micros FROM reservations WHERE state = 'settled'")
        # charged above the hold only when recorded as an overrun
        assert all(r["charged_micros"] <= r["reserved_micros"] or r["request_id"] in overruns for r in settled)


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestLedgerProperties = LedgerMachine.TestCase
