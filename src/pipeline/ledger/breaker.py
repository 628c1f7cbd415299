"""One circuit breaker per provider (instance) and model, shared by every isolate because
it lives in the ledger's Durable Object, fed by the outcomes the attempts' settle, release
and slot-release calls already carry (no round trip of its own).

closed → open: within `breaker_window_s`, at least `breaker_min_calls` calls, of which at
least `breaker_failures` failed, and at least `breaker_failure_percent` % of them.
open → half_open: `breaker_cooldown_s` after it opened; the first reserve for it then is
the one probe (chosen here, synchronously: atomic in the Durable Object); the others are
refused until the probe reports. The probe's success closes it, its failure opens it again.
Only failures that say the provider is unwell count (messages.Outcome.unwell). A provider's
429 with Retry-After holds it back for everyone that long (`held_until_ms`), uncounted.
Plain synchronous SQL, like core.py; every state change is one log line."""

from __future__ import annotations

import logging
from typing import Any, Iterable

from ..logs import event as log_event
from ..ledger_messages import Outcome, ProviderState
from .schema import SqlStorage

DEFAULTS: dict[str, int] = {
    "breaker_window_s": 60,
    "breaker_min_calls": 3,
    "breaker_failures": 3,
    "breaker_failure_percent": 50,
    "breaker_cooldown_s": 30,
}
MIN_COOLDOWN_S = 30  # Portkey's floor too: a provider in trouble needs longer than a retry's backoff

Refusal = tuple[str, str, float]  # reason, message, retry_after_s


def _row(sql: SqlStorage, provider: str, model: str) -> dict[str, Any] | None:
    rows = sql.exec("SELECT * FROM breakers WHERE provider = ? AND model = ?", provider, model)
    return rows[0] if rows else None


def _ensure(sql: SqlStorage, provider: str, model: str, now_ms: int) -> dict[str, Any]:
    row = _row(sql, provider, model)
    if row is None:
        sql.exec("INSERT INTO breakers (provider, model, state, since_ms) VALUES (?, ?, 'closed', ?)",
                 provider, model, now_ms)
        row = _row(sql, provider, model)
        assert row is not None
    return row


def _figures(sql: SqlStorage, cfg: dict[str, Any], provider: str, model: str, now_ms: int) -> tuple[int, int]:
    since = now_ms - int(cfg["breaker_window_s"]) * 1000
    rows = sql.exec("SELECT COUNT(*) AS n, COALESCE(SUM(failed), 0) AS f FROM breaker_calls"
                    " WHERE provider = ? AND model = ? AND at_ms > ?", provider, model, since)
    return int(rows[0]["n"]), int(rows[0]["f"])


def _move(sql: SqlStorage, cfg: dict[str, Any], row: dict[str, Any], to: str, now_ms: int, **fields: Any) -> None:
    sets = {"state": to, "since_ms": now_ms, **fields}
    sql.exec(f"UPDATE breakers SET {', '.join(f'{k} = ?' for k in sets)} WHERE provider = ? AND model = ?",
             *sets.values(), row["provider"], row["model"])
    calls, failures = _figures(sql, cfg, row["provider"], row["model"], now_ms)
    log_event(logging.WARNING, "breaker_state", provider=row["provider"], model=row["model"],
              state_from=row["state"], state=to, calls=calls, failures=failures)


def record(sql: SqlStorage, cfg: dict[str, Any], request_id: str, outcomes: Iterable[Outcome], now_ms: int) -> None:
    """What the provider calls of `request_id` did."""
    for o in outcomes:
        row = _ensure(sql, o.provider, o.model, now_ms)
        if o.retry_after_s:
            until = now_ms + int(o.retry_after_s * 1000)
            if until > int(row["held_until_ms"] or 0):
                sql.exec("UPDATE breakers SET held_until_ms = ? WHERE provider = ? AND model = ?",
                         until, o.provider, o.model)
        probe = row["state"] == "half_open" and row["probe_request"] == request_id
        if not o.ok and not o.unwell:  # the caller's fault, or the provider's hold: says nothing of its health
            if probe:
                sql.exec("UPDATE breakers SET probe_request = NULL WHERE provider = ? AND model = ?", o.provider, o.model)
            continue
        sql.exec("INSERT INTO breaker_calls (provider, model, at_ms, failed) VALUES (?, ?, ?, ?)",
                 o.provider, o.model, now_ms, 0 if o.ok else 1)
        if o.ok and row["state"] != "closed":
            sql.exec("DELETE FROM breaker_calls WHERE provider = ? AND model = ? AND failed = 1", o.provider, o.model)
            _move(sql, cfg, row, "closed", now_ms, probe_request=None, open_until_ms=None)
        elif not o.ok and probe:
            _move(sql, cfg, row, "open", now_ms, probe_request=None,
                  open_until_ms=now_ms + int(cfg["breaker_cooldown_s"]) * 1000)
        elif not o.ok and row["state"] == "closed":
            calls, failures = _figures(sql, cfg, o.provider, o.model, now_ms)
            if (calls >= int(cfg["breaker_min_calls"]) and failures >= int(cfg["breaker_failures"])
                    and failures * 100 >= int(cfg["breaker_failure_percent"]) * calls):
                _move(sql, cfg, row, "open", now_ms, open_until_ms=now_ms + int(cfg["breaker_cooldown_s"]) * 1000)


def admit(sql: SqlStorage, cfg: dict[str, Any], provider: str, model: str, request_id: str, hold_ms: int,
          now_ms: int) -> tuple[bool, Refusal | None]:
    """May `request_id` call `provider`/`model` now? (probe, refusal): `probe` when it is the
    half-open breaker's one trial call."""
    row = _row(sql, provider, model)
    if row is None:
        return False, None
    held = int(row["held_until_ms"] or 0)
    if held > now_ms:
        return False, ("provider_held", f"{provider} asked every caller to wait (Retry-After)", (held - now_ms) / 1000)
    if row["state"] == "open":
        until = int(row["open_until_ms"] or 0)
        if until > now_ms:
            return False, ("provider_open", f"{provider} ({model}) is failing: its circuit is open", (until - now_ms) / 1000)
        _move(sql, cfg, row, "half_open", now_ms, probe_request=None)
        row = {**row, "state": "half_open", "probe_request": None}
    if row["state"] == "half_open":
        free = row["probe_request"] is None or int(row["probe_until_ms"] or 0) <= now_ms
        if free or row["probe_request"] == request_id:
            sql.exec("UPDATE breakers SET probe_request = ?, probe_until_ms = ? WHERE provider = ? AND model = ?",
                     request_id, now_ms + max(hold_ms, int(cfg["breaker_cooldown_s"]) * 1000), provider, model)
            return True, None
        wait = min(int(row["probe_until_ms"]) - now_ms, int(cfg["breaker_cooldown_s"]) * 1000) / 1000
        return False, ("provider_open", f"{provider} ({model}) is being tried again by one request first", wait)
    return False, None


def forget_probe(sql: SqlStorage, request_id: str) -> None:
    """A closed request no longer holds a probe it never reported on (it failed before calling)."""
    sql.exec("UPDATE breakers SET probe_request = NULL WHERE probe_request = ?", request_id)


def states(sql: SqlStorage, cfg: dict[str, Any], now_ms: int, every: bool = False) -> tuple[ProviderState, ...]:
    """The breakers that are not closed (or held back); with `every`, all of them."""
    where = "" if every else " WHERE state != 'closed' OR held_until_ms > ?"
    rows = sql.exec(f"SELECT * FROM breakers{where} ORDER BY provider, model", *(() if every else (now_ms,)))
    out = []
    for r in rows:
        calls, failures = _figures(sql, cfg, r["provider"], r["model"], now_ms)
        held = int(r["held_until_ms"] or 0)
        until = max(int(r["open_until_ms"] or 0) if r["state"] == "open" else 0, held)
        out.append(ProviderState(r["provider"], r["model"], r["state"], int(r["since_ms"]),
                                 retry_after_s=(until - now_ms) / 1000 if until > now_ms else None,
                                 calls=calls, failures=failures, held_until_ms=held if held > now_ms else None))
    return tuple(out)


def prune(sql: SqlStorage, cfg: dict[str, Any], now_ms: int) -> int:
    """Calls older than the window say nothing any more."""
    before = now_ms - int(cfg["breaker_window_s"]) * 1000
    n = int(sql.exec("SELECT COUNT(*) AS n FROM breaker_calls WHERE at_ms <= ?", before)[0]["n"])
    if n:
        sql.exec("DELETE FROM breaker_calls WHERE at_ms <= ?", before)
    return n
