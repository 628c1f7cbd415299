"""The budget and concurrency ledger: the logic the Durable Object runs.

Plain synchronous Python over a tiny SQL port (`SqlStorage.exec`), so that
inside a Durable Object every method runs to completion without an `await`
between its reads and its writes — which is what makes it atomic there — and
so that tests run this very class over sqlite3.

Money is integer micro-dollars. The day is the UTC day of the reservation.
Reservations and slots are leases: past `expires_ms` they no longer hold money
or capacity, and expiring them is recorded. A lease is never shorter than the
request says it may run (`hold_s`). Every method is idempotent by request id.
Budget checks read running day totals (schema.py), never sums over the day."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import InvalidRequest
from . import breaker, policy, reports, schema, slots
from .schema import SqlStorage, add_totals

__all__ = ["LedgerCore", "SqlStorage", "DEFAULTS", "utc_day_ms"]

DEFAULTS: dict[str, Any] = {
    "daily_budget_micros": 10_000_000,  # $10 a day until an operator says otherwise
    "caller_daily_budget_micros": {},  # caller -> micros
    "default_caller_daily_budget_micros": None,  # None: callers share the global budget freely
    "max_cost_per_image_micros": None,  # None: no default per-request cap
    "global_concurrency": 8,
    "provider_concurrency": {},  # provider -> slots; absent: only the global limit applies
    "reservation_lease_s": 900,  # a floor: each request's own hold_s extends it
    "slot_lease_s": 600,
    "keep_days": 35,  # closed ledger rows older than this are pruned by the sweep
    **breaker.DEFAULTS,  # when a provider's circuit opens, and for how long (breaker.py)
}
MIN_LEASE_S = 60  # a lease shorter than a provider call would let two requests spend the same money


def utc_day_ms(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, timezone.utc).strftime("%Y-%m-%d")


class LedgerCore:
    def __init__(self, sql: SqlStorage) -> None:
        self.sql = sql
        schema.ensure_schema(sql)

    # --- configuration ---------------------------------------------------------

    def config(self) -> dict[str, Any]:
        stored = {r["key"]: json.loads(r["value"]) for r in self.sql.exec("SELECT key, value FROM ledger_config")}
        return {**DEFAULTS, **stored}

    def put_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and persist; effective for the very next call."""
        if not isinstance(changes, dict) or not changes:
            raise InvalidRequest("send an object with the settings to change")
        for key, value in changes.items():
            _validate(key, value)
        for key, value in changes.items():
            self.sql.exec(
                "INSERT INTO ledger_config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key, json.dumps(value),
            )
        return self.config()

    # --- money -----------------------------------------------------------------

    def _held(self, day: str, caller: str | None = None) -> tuple[int, int]:
        return schema.held(self.sql, day, caller)

    def _caller_budget(self, cfg: dict[str, Any], caller: str) -> int | None:
        return policy.caller_budget(cfg, caller)

    def remaining(self, now_ms: int, caller: str | None = None, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
        cfg = cfg or self.config()
        day = utc_day_ms(now_ms)
        spent, reserved = self._held(day)
        out: dict[str, Any] = {"day": day, "global_micros": max(0, cfg["daily_budget_micros"] - spent - reserved)}
        if caller is not None:
            budget = self._caller_budget(cfg, caller)
            if budget is not None:
                c_spent, c_reserved = self._held(day, caller)
                out["caller_micros"] = max(0, budget - c_spent - c_reserved)
        return out

    def reserve(self, request: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """Hold the estimate against today's budgets, or refuse with the reason. Asked
        again for an open reservation with a different estimate (a fallback to another
        provider), it moves the hold to the new amount, checking only the difference."""
        request_id = str(request["request_id"])
        estimate = int(request["estimate_micros"])
        if estimate < 0:
            raise InvalidRequest("estimate_micros must not be negative")
        self.expire(now_ms)
        existing = self._reservation(request_id)
        cfg = self.config()
        if existing is not None:
            return self._reserve_again(existing, request, estimate, cfg, now_ms)
        caller = str(request.get("caller") or "default")
        images = int(request.get("images") or 1)
        day = utc_day_ms(now_ms)
        refusal = self._refusal(cfg, caller, day, request, estimate, images, None)
        if refusal is not None:
            return self._refuse(request, caller, day, estimate, refusal, cfg, now_ms)
        hold_ms = max(0, int(float(request.get("hold_s") or 0) * 1000))
        lease_ms = max(int(cfg["reservation_lease_s"]) * 1000, hold_ms)
        key_id = str(request["key_id"]) if request.get("key_id") else None
        self.sql.exec(
            "INSERT INTO reservations (request_id, caller, provider, model, day, images, reserved_micros, state,"
            " created_ms, expires_ms, hold_ms, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?, ?)",
            request_id, caller, str(request.get("provider") or ""), str(request.get("model") or ""), day, images,
            estimate, now_ms, now_ms + lease_ms, hold_ms, key_id,
        )
        add_totals(self.sql, day, caller, reserved=estimate, key_id=key_id)
        self._event(request_id, "reserved", estimate, None, now_ms)
        return {"ok": True, "already": False, "reserved_micros": estimate, "remaining": self.remaining(now_ms, caller, cfg)}

    def _reserve_again(
        self, row: dict[str, Any], request: dict[str, Any], estimate: int, cfg: dict[str, Any], now_ms: int
    ) -> dict[str, Any]:
        caller, request_id = row["caller"], row["request_id"]
        if row["state"] == "settled" or (row["state"] == "reserved" and estimate == row["reserved_micros"]):
            return {"ok": True, "already": True, "reserved_micros": row["reserved_micros"],
                    "remaining": self.remaining(now_ms, caller, cfg)}
        if row["state"] != "reserved":
            return {"ok": False, "reason": "closed", "message": f"reservation {request_id} was already {row['state']}",
                    "remaining": self.remaining(now_ms, caller, cfg)}
        difference = estimate - int(row["reserved_micros"])
        # the key that holds the money is the reservation's, whatever a later call says
        request = {**request, "key_id": row["key_id"]}
        refusal = self._refusal(cfg, caller, row["day"], request, estimate, int(request.get("images") or row["images"]),
                                difference)
        if refusal is not None and difference > 0:
            return self._refuse(request, caller, row["day"], estimate, refusal, cfg, now_ms)
        self.sql.exec(
            "UPDATE reservations SET reserved_micros = ?, provider = COALESCE(?, provider), model = COALESCE(?, model)"
            " WHERE request_id = ?",
            estimate, request.get("provider"), request.get("model"), request_id,
        )
        add_totals(self.sql, row["day"], caller, reserved=difference, key_id=row["key_id"])
        self._event(request_id, "re-reserved", estimate, {"difference_micros": difference,
                                                          "provider": request.get("provider")}, now_ms)
        return {"ok": True, "already": False, "reserved_micros": estimate, "remaining": self.remaining(now_ms, caller, cfg)}

    def _refuse(self, request: dict[str, Any], caller: str, day: str, estimate: int, refusal: tuple[str, str],
                cfg: dict[str, Any], now_ms: int) -> dict[str, Any]:
        reason, message = refusal
        self.sql.exec(
            "INSERT INTO refusals (request_id, day, caller, provider, model, reason, estimate_micros, at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            str(request["request_id"]), day, caller, str(request.get("provider") or ""), str(request.get("model") or ""),
            reason, estimate, now_ms,
        )
        return {"ok": False, "reason": reason, "message": message, "remaining": self.remaining(now_ms, caller, cfg)}

    def _refusal(self, cfg: dict[str, Any], caller: str, day: str, request: dict[str, Any], estimate: int, images: int,
                 needed: int | None) -> tuple[str, str] | None:
        return policy.refusal(self.sql, cfg, caller, day, request, estimate, images, needed)

    def settle(self, request_id: str, actual_micros: int, details: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
        """Charge what the provider billed (or may have billed). Idempotent: a second
        settle changes nothing. The request's slots are given back in the same call."""
        actual = int(actual_micros)
        if actual < 0:
            raise InvalidRequest("actual_micros must not be negative")
        slots.release(self.sql, request_id)
        row = self._reservation(request_id)
        if row is None:
            # Money was spent without a reservation (should not happen): record the truth anyway.
            d = details or {}
            caller, day = str(d.get("caller") or "default"), utc_day_ms(now_ms)
            key_id = str(d["key_id"]) if d.get("key_id") else None
            self.sql.exec(
                "INSERT INTO reservations (request_id, caller, provider, model, day, images, reserved_micros, state,"
                " charged_micros, created_ms, expires_ms, closed_ms, close_reason, key_id)"
                " VALUES (?, ?, ?, ?, ?, ?, 0, 'settled', ?, ?, ?, ?, 'settled without reservation', ?)",
                request_id, caller, str(d.get("provider") or ""), str(d.get("model") or ""),
                day, int(d.get("images") or 0), actual, now_ms, now_ms, now_ms, key_id,
            )
            add_totals(self.sql, day, caller, spent=actual, key_id=key_id)
            self._event(request_id, "settled_unreserved", actual, d, now_ms)
            return {"ok": True, "charged_micros": actual, "difference_micros": actual, "already_settled": False}
        if row["state"] == "settled":
            return {"ok": True, "charged_micros": row["charged_micros"],
                    "difference_micros": row["charged_micros"] - row["reserved_micros"], "already_settled": True}
        late = row["state"] in ("released", "expired")
        images = (details or {}).get("images")
        self.sql.exec(
            "UPDATE reservations SET state = 'settled', charged_micros = ?, images = COALESCE(?, images), closed_ms = ?,"
            " close_reason = ? WHERE request_id = ?",
            actual, images, now_ms, f"settled after {row['state']}" if late else "settled", request_id,
        )
        add_totals(self.sql, row["day"], row["caller"], spent=actual, reserved=0 if late else -int(row["reserved_micros"]),
                   key_id=row["key_id"])
        difference = actual - row["reserved_micros"]
        self._event(request_id, "settled", actual, {"difference_micros": difference, "late": late, **(details or {})}, now_ms)
        if difference > 0:
            self._event(request_id, "overrun", difference, details, now_ms)
        return {"ok": True, "charged_micros": actual, "difference_micros": difference, "already_settled": False}

    def reconcile(self, spent: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
        """Charge spend the ledger has not seen settled (a settle RPC that never landed).
        Items come from D1: {request_id, actual_micros, caller, provider, model, images}."""
        charged = []
        for item in spent:
            row = self._reservation(str(item["request_id"]))
            if row is not None and row["state"] == "settled":
                continue
            self.settle(str(item["request_id"]), int(item["actual_micros"]),
                        {k: item.get(k) for k in ("caller", "provider", "model", "images", "key_id")} | {"reconciled": True},
                        now_ms)
            charged.append(str(item["request_id"]))
        return {"reconciled": len(charged), "request_ids": charged[:50]}

    def release(self, request_id: str, reason: str, now_ms: int) -> dict[str, Any]:
        """Give the held money back (nothing was billed) and the request's slots. Idempotent."""
        slots.release(self.sql, request_id)
        row = self._reservation(request_id)
        if row is None or row["state"] != "reserved":
            return {"ok": True, "already": True, "state": row["state"] if row else None}
        self.sql.exec(
            "UPDATE reservations SET state = 'released', closed_ms = ?, close_reason = ? WHERE request_id = ?",
            now_ms, reason[:200], request_id,
        )
        add_totals(self.sql, row["day"], row["caller"], reserved=-int(row["reserved_micros"]), key_id=row["key_id"])
        self._event(request_id, "released", row["reserved_micros"], {"reason": reason[:200]}, now_ms)
        return {"ok": True, "already": False, "state": "released"}

    def expire(self, now_ms: int) -> dict[str, int]:
        """End leases whose holders stopped answering; record each expiry."""
        stale = self.sql.exec(
            "SELECT request_id, reserved_micros, day, caller, key_id FROM reservations"
            " WHERE state = 'reserved' AND expires_ms <= ?",
            now_ms,
        )
        for row in stale:
            self.sql.exec(
                "UPDATE reservations SET state = 'expired', closed_ms = ?, close_reason = 'lease expired'"
                " WHERE request_id = ? AND state = 'reserved'",
                now_ms, row["request_id"],
            )
            add_totals(self.sql, row["day"], row["caller"], reserved=-int(row["reserved_micros"]), key_id=row["key_id"])
            self._event(row["request_id"], "expired", row["reserved_micros"], None, now_ms)
        gone = slots.expired(self.sql, now_ms)
        for slot in gone:
            kind = "slot_expired" if slot["confirmed"] else "slot_claim_expired"
            self._event(slot["request_id"], kind, 0, {"provider": slot["provider"]}, now_ms)
        return {"expired_reservations": len(stale), "expired_slots": len(gone)}

    def prune(self, now_ms: int, cfg: dict[str, Any] | None = None) -> dict[str, int]:
        keep = int((cfg or self.config())["keep_days"])
        cutoff = datetime.fromtimestamp(now_ms / 1000, timezone.utc) - timedelta(days=keep)
        return schema.prune(self.sql, cutoff.strftime("%Y-%m-%d"), int(cutoff.timestamp() * 1000))

    def recover_after_restart(self, now_ms: int) -> dict[str, int]:
        """For a host whose every slot holder died with it (the local server): free them now."""
        dropped = slots.drop_all(self.sql)
        for slot in dropped:
            self._event(slot["request_id"], "slot_recovered", 0, {"provider": slot["provider"]}, now_ms)
        return {"recovered_slots": len(dropped)}

    # --- concurrency -----------------------------------------------------------

    def _slot_lease_ms(self, request_id: str, cfg: dict[str, Any]) -> int:
        rows = self.sql.exec("SELECT hold_ms FROM reservations WHERE request_id = ?", request_id)
        return max(int(cfg["slot_lease_s"]) * 1000, int(rows[0]["hold_ms"]) if rows else 0)

    def try_acquire(self, request_id: str, provider: str, now_ms: int, cfg: dict[str, Any] | None = None,
                    *, claim: bool = False) -> bool:
        """Take (or confirm) a slot if both limits allow; `claim`: for a queued waiter."""
        cfg = cfg or self.config()
        return slots.try_acquire(self.sql, request_id, provider, now_ms, cfg, self._slot_lease_ms(request_id, cfg), claim=claim)

    def holds_slot(self, request_id: str, provider: str) -> bool:
        return bool(self.sql.exec("SELECT 1 AS x FROM slots WHERE request_id = ? AND provider = ?", request_id, provider))

    def release_slot(self, request_id: str, provider: str) -> bool:
        return bool(slots.release(self.sql, request_id, provider))

    def next_slot_expiry_ms(self) -> int | None:
        return slots.next_expiry_ms(self.sql)

    # --- reporting -------------------------------------------------------------

    def usage(self, day_from: str, day_to: str, now_ms: int) -> dict[str, Any]:
        return reports.usage(self.sql, day_from, day_to) | {"budget": self.budget_status(now_ms)}

    def budget_status(self, now_ms: int) -> dict[str, Any]:
        return reports.budget_status(self, now_ms)

    # --- internals -------------------------------------------------------------

    def _reservation(self, request_id: str) -> dict[str, Any] | None:
        rows = self.sql.exec("SELECT * FROM reservations WHERE request_id = ?", request_id)
        return rows[0] if rows else None

    def _event(self, request_id: str, kind: str, micros: int, detail: Any, now_ms: int) -> None:
        self.sql.exec(
            "INSERT INTO ledger_events (request_id, kind, micros, detail, at_ms) VALUES (?, ?, ?, ?, ?)",
            request_id, kind, int(micros), json.dumps(detail) if detail is not None else None, now_ms,
        )


def _validate(key: str, value: Any) -> None:
    def money(v: Any, name: str, nullable: bool = False) -> None:
        if v is None and nullable:
            return
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise InvalidRequest(f"{name} must be a non-negative integer (micro-dollars)", details={"field": name})

    def at_least(v: Any, name: str, low: int) -> None:
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise InvalidRequest(f"{name} must be an integer of at least {low}", details={"field": name})

    if key not in DEFAULTS:
        raise InvalidRequest(f"unknown budget setting {key!r}; known: {', '.join(sorted(DEFAULTS))}", details={"field": key})
    if key == "daily_budget_micros":
        money(value, key)
    elif key in ("default_caller_daily_budget_micros", "max_cost_per_image_micros"):
        money(value, key, nullable=True)
    elif key in ("caller_daily_budget_micros", "provider_concurrency"):
        if not isinstance(value, dict):
            raise InvalidRequest(f"{key} must be an object", details={"field": key})
        for name, v in value.items():
            if key == "provider_concurrency":
                at_least(v, f"{key}.{name}", 1)
            money(v, f"{key}.{name}")
    elif key in ("reservation_lease_s", "slot_lease_s"):
        at_least(value, key, MIN_LEASE_S)
    elif key in ("global_concurrency", "keep_days", "breaker_window_s", "breaker_min_calls", "breaker_failures"):
        at_least(value, key, 1)
    elif key == "breaker_cooldown_s":
        at_least(value, key, breaker.MIN_COOLDOWN_S)
    elif key == "breaker_failure_percent":
        at_least(value, key, 1)
        if value > 100:
            raise InvalidRequest(f"{key} must be at most 100", details={"field": key})
