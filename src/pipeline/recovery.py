"""The cron finishing a paid request from what R2 holds.

A provider answered (and billed), the images reached R2, then D1 failed for the rest
of the request: the success batch, and even the failure, went unrecorded, so the row
stays `running`. Each image object carries its D1 row in its custom metadata
(storage/images.py), so the stale-request sweep (maintenance.py) records those rows
and marks the request `succeeded` instead of deleting what the client paid for.

A request is recovered when at least one of its images is intact (complete metadata,
size and sha256 matching the bytes): a generation that makes fewer images than asked
succeeds with fewer on the normal path too (calls.py). Objects that fail the check
are not recorded (the sweep removes them); a request with none is abandoned as before."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clock import utc_day
from .generation import outcome
from .ledger_messages import SettleRequest
from .retry import STORE_GRACE_S
from .logs import event as log_event
from .services import Services
from .storage import images, sweeps
from .storage.store import TERMINAL, Attempt, ImageRow, Store

RECOVERED = "recorded by the maintenance job after a storage failure: the images are the ones the provider made"
PUT_MARGIN_S = 180  # past the deadline and the storing grace: setup before the first call, clock skew


def object_days(s: Services, row: dict[str, Any]) -> list[str]:
    """The UTC days a request's objects may be filed under: from its creation to the
    last moment it could still write one (its deadline plus the storing grace), and today."""
    start = _parse(row["created_at"])
    last = min(s.clock.now(), _parse(row["updated_at"]) + timedelta(
        seconds=s.settings.request_timeout_s + STORE_GRACE_S + PUT_MARGIN_S))
    days = {utc_day(s.clock.now())}
    day = start
    while utc_day(day) <= utc_day(last):
        days.add(utc_day(day))
        day += timedelta(days=1)
    return sorted(days)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Scan:
    """What R2 holds of one request: its intact images, and every key that has an object
    (the sweep removes those no image row records without reading them again)."""

    intact: list[ImageRow]
    present: list[str]


async def scan(s: Services, row: dict[str, Any]) -> Scan:
    """Read the request's objects once: those whose metadata describes them exactly, one per
    index, in order, and every key found."""
    found: dict[int, ImageRow] = {}
    present: list[str] = []
    for index, key in images.possible_keys(row["id"], int(row["n"]), object_days(s, row)):
        obj = await s.objects.get(key)
        if obj is None:
            continue
        present.append(key)
        if index in found:
            continue
        image = images.row_from_object(key, row["id"], index, obj)
        obj = None  # the bytes are let go before the next object is read
        if image is None:
            log_event(logging.WARNING, "recovery_object_rejected", request_id=row["id"], key=key)
            continue
        found[index] = image
    return Scan([found[i] for i in sorted(found)], present)


async def finish_from_objects(s: Services, row: dict[str, Any], objects: Scan) -> bool:
    """Record a stale `running` request's intact images and mark it `succeeded`, charged
    exactly: the ledger's charge when the request lived to settle, else the estimate rule
    (the attempts recorded plus the call in flight at its estimate: docs/budget.md). True
    when the request is terminal afterwards (recovered here, or finished meanwhile by
    someone else); False when nothing could be recovered."""
    if row["status"] != "running":
        return False  # a pending request never called a provider
    found = objects.intact
    if not found:
        return False
    request_id, recorded = row["id"], int(row["recorded"])
    first = found[0]
    answer = await s.ledger.settle(SettleRequest(request_id, recorded + int(row["estimate"]), caller=row["caller"],
                                                 provider=first.provider, model=first.model, images=len(found),
                                                 note={"recovered": True}))
    charge = answer.charged_micros  # the first settle's, when the request lived to settle
    store = Store(s.db, s.clock)
    attempts = await sweeps.count_attempts(s.db, request_id, first.provider)
    warnings = list(dict.fromkeys(_list(row.get("warnings")) + [RECOVERED] + _partial(len(found), int(row["n"]))))
    await outcome.record_success(s, store, outcome.Success(
        request_id, first.provider, first.model, None, found,
        Attempt(request_id, first.provider, first.model, attempts + 1, "succeeded", images=len(found),
                cost_micros=max(0, charge - recorded), usage={"recovered": True}),
        charged_micros=charge, warnings=warnings, links=_list(row.get("links")), only_if_open=True,
    ), deadline=s.clock.monotonic())
    status = await sweeps.status_of(s.db, request_id)
    log_event(logging.WARNING, "request_recovered", request_id=request_id, images=len(found), n=int(row["n"]),
              charged_micros=charge, status=status)
    return status in TERMINAL


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return json.loads(value) if value else []


def _partial(found: int, n: int) -> list[str]:
    return [f"{found} of {n} images could be recovered; the others were not stored"] if found < n else []
