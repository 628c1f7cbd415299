"""Who may hold money: the caps and budgets a reservation is checked against, in order."""

from __future__ import annotations

from typing import Any

from .schema import SqlStorage, held, key_held


def caller_budget(cfg: dict[str, Any], caller: str) -> int | None:
    per_caller = cfg["caller_daily_budget_micros"] or {}
    return per_caller.get(caller, cfg["default_caller_daily_budget_micros"])


def refusal(
    sql: SqlStorage, cfg: dict[str, Any], caller: str, day: str, request: dict[str, Any], estimate: int, images: int,
    needed: int | None,
) -> tuple[str, str] | None:
    """Why `estimate` may not be held; `needed` is the new money it takes (None: all of it).
    Caps apply to this attempt's own estimate, not to what earlier attempts already cost."""
    needed = estimate if needed is None else needed
    own = int(request.get("attempt_estimate_micros", estimate))
    cap, default_cap = request.get("cap_micros"), cfg["max_cost_per_image_micros"]
    if cap is not None and own > int(cap):
        return "request_cap", f"estimate {own} micro-dollars is over the request's cap of {int(cap)}"
    if cap is None and default_cap is not None and own > int(default_cap) * images:
        return ("request_cap", f"estimate {own} micro-dollars for {images} image(s) is over the cap of "
                f"{default_cap} per image")
    spent, reserved = held(sql, day)
    budget = int(cfg["daily_budget_micros"])
    if spent + reserved + needed > budget:
        left = max(0, budget - spent - reserved)
        return "daily_budget", (f"the daily budget would be passed: {left} of {budget} micro-dollars left today "
                                f"({spent} spent, {reserved} reserved), this request needs {needed}")
    limit = caller_budget(cfg, caller)
    if limit is not None:
        c_spent, c_reserved = held(sql, day, caller)
        if c_spent + c_reserved + needed > limit:
            left = max(0, limit - c_spent - c_reserved)
            return "caller_budget", (f"caller {caller!r}'s daily budget would be passed: {left} of {limit} "
                                     f"micro-dollars left today, this request needs {needed}")
    key_id, key_budget = request.get("key_id"), request.get("key_budget_micros")
    if key_id and key_budget is not None:
        k_spent, k_reserved = key_held(sql, day, str(key_id))
        if k_spent + k_reserved + needed > int(key_budget):
            left = max(0, int(key_budget) - k_spent - k_reserved)
            return "key_budget", (f"this API key's daily budget would be passed: {left} of {int(key_budget)} "
                                  f"micro-dollars left today, this request needs {needed}")
    return None
