"""The budget and concurrency ledger: the logic the Durable Object runs.

Plain synchronous Python over a tiny SQL port (`SqlStorage.exec`), so that
inside a Durable Object every method runs to completion without an `await`
between its reads and its writes — which is what makes it atomic there — and
so that tests run this very class over sqlite3.

Money is integer micro-dollars. The day is the UTC day of the reservation.
Reservations and slots are leases: past `expires_ms` they no longer hold money
or capacity, and expiring them is recorded. Every method is idempotent by
request id."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Protocol

from ..errors import InvalidRequest


class SqlStorage(Protocol):
    """`ctx.storage.sql.exec(sql, *params).toArray()` as a list of dicts."""

    def exec(self, sql: str, *params: Any) -> list[dict[str, Any]]: ...


DEFAULTS: dict[str, Any] = {
    "daily_budget_micros": 10_000_000,  # $10 a day until an operator says otherwise
    "caller_daily_budget_micros": {},  # caller -> micros
    "default_caller_daily_budget_micros": None,  # None: callers share the global budget freely
    "max_cost_per_image_micros": None,  # None: no default per-request cap
    "global_concurrency": 8,
    "provider_concurrency": {},  # provider -> slots; absent: only the global limit applies
    "reservation_lease_s": 900,  # longer than any request may run (REQUEST_TIMEOUT_S)
    "slot_lease_s": 600,
}

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS ledger_config (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS reservations ("
    " request_id TEXT PRIMARY KEY, caller TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,"
    " day TEXT NOT NULL, images INTEGER NOT NULL, reserved_micros INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('reserved', 'settled', 'released', 'expired')),"
    " charged_micros INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " closed_ms INTEGER, close_reason TEXT)",
    "CREATE INDEX IF NOT EXISTS reservations_open ON reservations (state, expires_ms)",
    "CREATE INDEX IF NOT EXISTS reservations_day ON reservations (day, caller)",
    "CREATE TABLE IF NOT EXISTS refusals (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
    " day TEXT NOT NULL, caller TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL,"
    " estimate_micros INTEGER NOT NULL, at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS refusals_day ON refusals (day)",
    "CREATE TABLE IF NOT EXISTS slots (request_id TEXT NOT NULL, provider TEXT NOT NULL,"
    " acquired_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (request_id, provider))",
    "CREATE TABLE IF NOT EXISTS ledger_events (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, micros INTEGER NOT NULL DEFAULT 0, detail TEXT, at_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ledger_events_request ON ledger_events (request_id)",
)


def utc_day_ms(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, timezone.utc).strftime("%Y-%m-%d")


def _scalar(rows: list[dict[str, Any]]) -> int:
    value = next(iter(rows[0].values())) if rows else 0
    return int(value or 0)


class LedgerCore:
    def __init__(self, sql: SqlStorage) -> None:
        self.sql = sql
        for statement in _SCHEMA:
            sql.exec(statement)

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
        """(spent, reserved-and-open) for a UTC day, for everyone or one caller."""
        where, params = ("day = ?", [day]) if caller is None else ("day = ? AND caller = ?", [day, caller])
        row = self.sql.exec(
            f"SELECT COALESCE(SUM(CASE WHEN state = 'settled' THEN charged_micros ELSE 0 END), 0) AS spent,"
            f" COALESCE(SUM(CASE WHEN state = 'reserved' THEN reserved_micros ELSE 0 END), 0) AS reserved"
            f" FROM reservations WHERE {where}",
            *params,
        )[0]
        return int(row["spent"]), int(row["reserved"])

    def _caller_budget(self, cfg: dict[str, Any], caller: str) -> int | None:
        per_caller = cfg["caller_daily_budget_micros"] or {}
        return per_caller.get(caller, cfg["default_caller_daily_budget_micros"])

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
        """Hold the estimate against today's budgets, or refuse with the reason."""
        request_id = str(request["request_id"])
        existing = self._reservation(request_id)
        if existing is not None:
            if existing["state"] in ("reserved", "settled"):
                return {"ok": True, "already": True, "reserved_micros": existing["reserved_micros"],
                        "remaining": self.remaining(now_ms, existing["caller"])}
            return {"ok": False, "reason": "closed", "message": f"reservation {request_id} was already {existing['state']}",
                    "remaining": self.remaining(now_ms, existing["caller"])}
        self.expire(now_ms)
        cfg = self.config()
        caller = str(request.get("caller") or "default")
        estimate = int(request["estimate_micros"])
        images = int(request.get("images") or 1)
        day = utc_day_ms(now_ms)
        if estimate < 0:
            raise InvalidRequest("estimate_micros must not be negative")

        refusal = self._refusal(cfg, caller, day, estimate, images, request.get("cap_micros"))
        if refusal is not None:
            reason, message = refusal
            self.sql.exec(
                "INSERT INTO refusals (request_id, day, caller, provider, model, reason, estimate_micros, at_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                request_id, day, caller, str(request.get("provider") or ""), str(request.get("model") or ""),
                reason, estimate, now_ms,
            )
            return {"ok": False, "reason": reason, "message": message, "remaining": self.remaining(now_ms, caller, cfg)}

        self.sql.exec(
            "INSERT INTO reservations (request_id, caller, provider, model, day, images, reserved_micros, state,"
            " created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?)",
            request_id, caller, str(request.get("provider") or ""), str(request.get("model") or ""), day, images,
            estimate, now_ms, now_ms + int(cfg["reservation_lease_s"]) * 1000,
        )
        self._event(request_id, "reserved", estimate, None, now_ms)
        return {"ok": True, "already": False, "reserved_micros": estimate, "remaining": self.remaining(now_ms, caller, cfg)}

    def _refusal(
        self, cfg: dict[str, Any], caller: str, day: str, estimate: int, images: int, cap: Any
    ) -> tuple[str, str] | None:
        default_cap = cfg["max_cost_per_image_micros"]
        if cap is not None and estimate > int(cap):
            return "request_cap", f"estimate {estimate} micro-dollars is over the request's cap of {int(cap)}"
        if default_cap is not None and estimate > int(default_cap) * images:
            return ("request_cap", f"estimate {estimate} micro-dollars for {images} image(s) is over the cap of "
                    f"{default_cap} per image")
        spent, reserved = self._held(day)
        budget = int(cfg["daily_budget_micros"])
        if spent + reserved + estimate > budget:
            left = max(0, budget - spent - reserved)
            return "daily_budget", (f"the daily budget would be passed: {left} of {budget} micro-dollars left today "
                                    f"({spent} spent, {reserved} reserved), this request needs {estimate}")
        caller_budget = self._caller_budget(cfg, caller)
        if caller_budget is not None:
            c_spent, c_reserved = self._held(day, caller)
            if c_spent + c_reserved + estimate > caller_budget:
                left = max(0, caller_budget - c_spent - c_reserved)
                return "caller_budget", (f"caller {caller!r}'s daily budget would be passed: {left} of {caller_budget} "
                                         f"micro-dollars left today, this request needs {estimate}")
        return None

    def settle(self, request_id: str, actual_micros: int, details: dict[str, Any] | None, now_ms: int) -> dict[str, Any]:
        """Charge what the provider billed. Idempotent: a second settle changes nothing."""
        actual = int(actual_micros)
        if actual < 0:
            raise InvalidRequest("actual_micros must not be negative")
        row = self._reservation(request_id)
        if row is None:
            # Money was spent without a reservation (should not happen): record the truth anyway.
            d = details or {}
            self.sql.exec(
                "INSERT INTO reservations (request_id, caller, provider, model, day, images, reserved_micros, state,"
                " charged_micros, created_ms, expires_ms, closed_ms, close_reason)"
                " VALUES (?, ?, ?, ?, ?, ?, 0, 'settled', ?, ?, ?, ?, 'settled without reservation')",
                request_id, str(d.get("caller") or "default"), str(d.get("provider") or ""), str(d.get("model") or ""),
                utc_day_ms(now_ms), int(d.get("images") or 0), actual, now_ms, now_ms, now_ms,
            )
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
                        {k: item.get(k) for k in ("caller", "provider", "model", "images")} | {"reconciled": True}, now_ms)
            charged.append(str(item["request_id"]))
        return {"reconciled": len(charged), "request_ids": charged[:50]}

    def release(self, request_id: str, reason: str, now_ms: int) -> dict[str, Any]:
        """Give the held money back (the call failed, nothing was billed). Idempotent."""
        row = self._reservation(request_id)
        if row is None or row["state"] != "reserved":
            return {"ok": True, "already": True, "state": row["state"] if row else None}
        self.sql.exec(
            "UPDATE reservations SET state = 'released', closed_ms = ?, close_reason = ? WHERE request_id = ?",
            now_ms, reason[:200], request_id,
        )
        self._event(request_id, "released", row["reserved_micros"], {"reason": reason[:200]}, now_ms)
        return {"ok": True, "already": False, "state": "released"}

    def expire(self, now_ms: int) -> dict[str, int]:
        """End leases whose holders stopped answering; record each expiry."""
        stale = self.sql.exec(
            "SELECT request_id, reserved_micros FROM reservations WHERE state = 'reserved' AND expires_ms <= ?", now_ms
        )
        for row in stale:
            self.sql.exec(
                "UPDATE reservations SET state = 'expired', closed_ms = ?, close_reason = 'lease expired'"
                " WHERE request_id = ? AND state = 'reserved'",
                now_ms, row["request_id"],
            )
            self._event(row["request_id"], "expired", row["reserved_micros"], None, now_ms)
        slots = self.sql.exec("SELECT request_id, provider FROM slots WHERE expires_ms <= ?", now_ms)
        for slot in slots:
            self._event(slot["request_id"], "slot_expired", 0, {"provider": slot["provider"]}, now_ms)
        if slots:
            self.sql.exec("DELETE FROM slots WHERE expires_ms <= ?", now_ms)
        return {"expired_reservations": len(stale), "expired_slots": len(slots)}

    # --- concurrency -----------------------------------------------------------

    def try_acquire(self, request_id: str, provider: str, now_ms: int, cfg: dict[str, Any] | None = None) -> bool:
        """Take a slot if both the global and the provider's limits allow. Idempotent."""
        held = self.sql.exec("SELECT 1 AS x FROM slots WHERE request_id = ? AND provider = ?", request_id, provider)
        if held:
            return True
        cfg = cfg or self.config()
        if _scalar(self.sql.exec("SELECT COUNT(*) AS n FROM slots")) >= int(cfg["global_concurrency"]):
            return False
        limit = (cfg["provider_concurrency"] or {}).get(provider)
        if limit is not None and _scalar(self.sql.exec("SELECT COUNT(*) AS n FROM slots WHERE provider = ?", provider)) >= int(limit):
            return False
        self.sql.exec(
            "INSERT INTO slots (request_id, provider, acquired_ms, expires_ms) VALUES (?, ?, ?, ?)",
            request_id, provider, now_ms, now_ms + int(cfg["slot_lease_s"]) * 1000,
        )
        return True

    def release_slot(self, request_id: str, provider: str) -> bool:
        held = bool(self.sql.exec("SELECT 1 AS x FROM slots WHERE request_id = ? AND provider = ?", request_id, provider))
        if held:
            self.sql.exec("DELETE FROM slots WHERE request_id = ? AND provider = ?", request_id, provider)
        return held

    def next_slot_expiry_ms(self) -> int | None:
        rows = self.sql.exec("SELECT MIN(expires_ms) AS m FROM slots")
        return int(rows[0]["m"]) if rows and rows[0]["m"] is not None else None

    # --- reporting -------------------------------------------------------------

    def usage(self, day_from: str, day_to: str, now_ms: int) -> dict[str, Any]:
        rows = self.sql.exec(
            "SELECT day, provider, model, COUNT(*) AS requests,"
            " SUM(CASE WHEN state = 'settled' THEN images ELSE 0 END) AS images,"
            " SUM(reserved_micros) AS reserved_micros,"
            " SUM(CASE WHEN state = 'settled' THEN charged_micros ELSE 0 END) AS spent_micros,"
            " SUM(CASE WHEN state = 'reserved' THEN reserved_micros ELSE 0 END) AS open_micros"
            " FROM reservations WHERE day BETWEEN ? AND ? GROUP BY day, provider, model ORDER BY day, provider, model",
            day_from, day_to,
        )
        refused = self.sql.exec(
            "SELECT day, provider, model, COUNT(*) AS refused FROM refusals WHERE day BETWEEN ? AND ?"
            " GROUP BY day, provider, model",
            day_from, day_to,
        )
        days: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        for r in rows:
            days.setdefault(r["day"], {})[(r["provider"], r["model"])] = {
                "provider": r["provider"], "model": r["model"], "requests": int(r["requests"]),
                "images": int(r["images"] or 0), "reserved_micros": int(r["reserved_micros"] or 0),
                "spent_micros": int(r["spent_micros"] or 0), "open_micros": int(r["open_micros"] or 0), "refused": 0,
            }
        for r in refused:
            entry = days.setdefault(r["day"], {}).setdefault(
                (r["provider"], r["model"]),
                {"provider": r["provider"], "model": r["model"], "requests": 0, "images": 0, "reserved_micros": 0,
                 "spent_micros": 0, "open_micros": 0, "refused": 0},
            )
            entry["refused"] = int(r["refused"])
        out_days = []
        for day in sorted(days):
            providers = list(days[day].values())
            totals = {k: sum(p[k] for p in providers) for k in ("requests", "images", "reserved_micros", "spent_micros", "refused")}
            out_days.append({"day": day, "providers": providers, "totals": totals})
        return {"days": out_days, "budget": self.budget_status(now_ms)}

    def budget_status(self, now_ms: int) -> dict[str, Any]:
        cfg = self.config()
        day = utc_day_ms(now_ms)
        spent, reserved = self._held(day)
        callers = {}
        seen = [r["caller"] for r in self.sql.exec("SELECT DISTINCT caller FROM reservations WHERE day = ?", day)]
        for caller in sorted(set(seen) | set(cfg["caller_daily_budget_micros"] or {})):
            c_spent, c_reserved = self._held(day, caller)
            budget = self._caller_budget(cfg, caller)
            callers[caller] = {"budget_micros": budget, "spent_micros": c_spent, "reserved_micros": c_reserved,
                               "remaining_micros": None if budget is None else max(0, budget - c_spent - c_reserved)}
        return {
            "day": day,
            "daily_budget_micros": cfg["daily_budget_micros"],
            "spent_today_micros": spent,
            "reserved_now_micros": _scalar(self.sql.exec(
                "SELECT COALESCE(SUM(reserved_micros), 0) AS n FROM reservations WHERE state = 'reserved'")),
            "remaining_micros": max(0, cfg["daily_budget_micros"] - spent - reserved),
            "slots_in_use": _scalar(self.sql.exec("SELECT COUNT(*) AS n FROM slots")),
            "callers": callers,
        }

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
            if key == "provider_concurrency" and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise InvalidRequest(f"{key}.{name} must be an integer of at least 1", details={"field": f"{key}.{name}"})
            money(v, f"{key}.{name}")
    elif key in ("global_concurrency", "reservation_lease_s", "slot_lease_s"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidRequest(f"{key} must be an integer of at least 1", details={"field": key})
