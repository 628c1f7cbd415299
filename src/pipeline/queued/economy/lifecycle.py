"""The economy lane's queue messages: plan at submission, submit once, poll, collect.

- `economy_submit {pb}`: each item gets its generation row and a reservation at the
  batch price (held as long as the provider may take), then the provider batch row
  moves to `submitting` *before* anything is sent; a delivery that finds it already
  `submitting` (its predecessor died mid-submit) looks the provider batch up by our
  reference first. The provider id is recorded the moment it is known.
- `economy_poll {pb, seq}`: one status call, then a new message with a delay
  (ECONOMY_POLL_DELAYS_S), never a loop; `seq` makes a duplicated chain die out and
  `calls` bounds the provider calls of one batch. A terminal status collects.
- collecting: each result line becomes a stored generation (record.py); what the
  provider did not finish (expired, cancelled) is released, not charged."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from ... import errors, logs
from ...catalog.batch import OFFERS, BatchOffer
from ...clock import iso, utc_day
from ...generation import admission, reservation
from ..completion import finish_batch  # the batch's completion and webhook, as for standard items
from ...generation.request_row import create_row
from ...ids import new_id
from ...models import GenerationRequest
from ...providers.batch_base import TERMINAL, BatchAdapter, BatchStatus
from ...services import Services
from ...storage import batches as batch_rows
from ...storage.store import Store
from ...storage import economy_rows
from . import record
from .adapters import adapter_for
from .routing import Route, plan_item


HOLD_MARGIN_S = 3600  # collecting and settling after the provider gives up: the lease covers both
SUBMIT_GIVE_UP = 6  # deliveries of a submit that keeps failing retryably before its items fail
RETRY_S = (30, 60, 120, 300, 600, 900)
CALL_MARGIN = 20  # provider calls beyond the polls: submit, lookups, cancel, result files


def _log(event: str, **fields: Any) -> None:
    logs.event(logging.INFO, event, **fields)


def _retry(attempts: int) -> float:
    return float(RETRY_S[min(attempts, len(RETRY_S)) - 1])


def _now(s: Services) -> str:
    return iso(s.clock.now())


# --- at submission (the HTTP request) ----------------------------------------------


def plan(s: Services, batch_id: str, routes: list[Route], sizes: list[int]) -> tuple[list[economy_rows.Statement], list[dict[str, Any]]]:
    """Group the economy items into provider batches (one provider and model each, at most
    the offer's images); the statements to store with the batch and the queue messages."""
    groups: list[tuple[str, str, str, list[int]]] = []
    open_group: dict[tuple[str, str], tuple[list[int], int]] = {}
    now = s.clock.now()
    for idx, r in enumerate(routes):
        if r.lane != "economy":
            continue
        assert r.provider and r.model and r.offer
        key = (r.provider, r.model)
        members, images = open_group.get(key, ([], 0))
        if not members or images + sizes[idx] > r.offer.max_images:
            members, images = [], 0
            groups.append((new_id("pbt", now), r.provider, r.model, members))
        members.append(idx)
        open_group[key] = (members, images + sizes[idx])
    warnings = {i: r.warning for i, r in enumerate(routes) if r.warning}
    statements = economy_rows.plan_statements(batch_id, groups, warnings, iso(now))
    messages = [{"type": "item", "batch_id": batch_id, "idx": i} for i, r in enumerate(routes) if r.lane != "economy"]
    messages += [{"type": "economy_submit", "pb": g[0]} for g in groups]
    return statements, messages


# --- submit ---------------------------------------------------------------------


def _offer(pb: dict[str, Any], s: Services) -> tuple[BatchAdapter, BatchOffer]:
    provider = s.registry.get(pb["provider"])
    adapter = adapter_for(provider) if provider is not None else None
    if provider is None or adapter is None:
        raise errors.ProviderUnavailable(f"provider {pb['provider']} is not configured for batches", provider=pb["provider"])
    return adapter, OFFERS[provider.kind]


async def on_submit(s: Services, body: dict[str, Any], attempts: int) -> float | None:
    pb = await economy_rows.provider_batch(s.db, str(body["pb"]))
    if pb is None or pb["state"] == "done":
        return None
    if pb["state"] in ("submitted", "collecting"):
        await _schedule(s, pb, int(pb["polls"]))  # the earlier delivery may have died before scheduling
        return None
    try:
        adapter, offer = _offer(pb, s)
    except errors.ImageWorkerError as exc:
        await _fail_group(s, pb, exc)
        return None
    lines = await _submit_lines(s, pb, adapter, offer)
    if not lines:
        await _done(s, pb)
        return None
    was = pb["state"]
    await economy_rows.move(s.db, pb["id"], to="submitting", frm=("planned",), now=_now(s))
    state = {"input_file_id": pb["input_file_id"]}
    try:
        provider_id = await adapter.find(pb["id"]) if was == "submitting" else None
        if provider_id is None:
            await economy_rows.claim_call(s.db, pb["id"], 10**9)
            provider_id = await adapter.submit(pb["id"], pb["model"], lines, state)
    except errors.ImageWorkerError as exc:
        if state.get("input_file_id") != pb["input_file_id"]:
            await economy_rows.update(s.db, pb["id"], _now(s), input_file_id=state["input_file_id"])
        _log("economy_submit_failed", pb=pb["id"], code=exc.code, deliveries=attempts)
        if exc.retryable and attempts < SUBMIT_GIVE_UP:
            return _retry(attempts)  # the next delivery looks the batch up before creating another
        if attempts >= SUBMIT_GIVE_UP and await adapter.find(pb["id"]) is not None:
            return _retry(attempts)  # it exists after all: the next delivery records it
        await _fail_group(s, pb, exc)
        return None
    now = s.clock.now()
    await economy_rows.move(s.db, pb["id"], to="submitted", frm=("submitting",), now=iso(now), provider_batch_id=provider_id,
                    input_file_id=state.get("input_file_id"), submitted_at=iso(now))
    _log("economy_submitted", pb=pb["id"], provider=pb["provider"], provider_batch_id=provider_id, items=len(lines))
    pb = await economy_rows.provider_batch(s.db, pb["id"])
    assert pb is not None
    await _schedule(s, pb, 0)
    return None


async def _submit_lines(s: Services, pb: dict[str, Any], adapter: BatchAdapter, offer: BatchOffer) -> list[dict[str, Any]]:
    """Each item's generation row, reservation and wire line (again on a redelivery: each
    step is idempotent by the item's request id); items refused or failed here drop out."""
    existing = {int(e["idx"]): e for e in await economy_rows.items(s.db, pb["id"])}
    lines = []
    for item in await economy_rows.group_items(s.db, pb["id"]):
        idx = int(item["idx"])
        if idx in existing:
            if existing[idx]["state"] == "open":
                lines.append(adapter.line(existing[idx]["custom_id"], record.preq_from_json(json.loads(existing[idx]["preq"]))))
            continue
        if item["status"] in batch_rows.TERMINAL:
            continue
        line = await _item_line(s, pb, item, adapter, offer)
        if line is not None:
            lines.append(line)
    return lines


async def _item_line(s: Services, pb: dict[str, Any], item: dict[str, Any], adapter: BatchAdapter,
                        offer: BatchOffer) -> dict[str, Any] | None:
    req = GenerationRequest.model_validate(json.loads(item["body"]))
    try:  # the one admission path, as the key that queued the batch (its id is on the batch's row)
        principal = await admission.queued_principal(s, item.get("api_key_id"), req.caller or s.settings.default_caller)
    except errors.ImageWorkerError as exc:
        await batch_rows.finish_item(s.db, pb["batch_id"], int(item["idx"]), status="refused", request_id=None,
                                     error=exc.to_dict(), now=_now(s))
        return None
    admitted = admission.admitted(s, principal, req)
    now = _now(s)
    request_id = await economy_rows.claim_request_id(s.db, pb["batch_id"], int(item["idx"]), admitted.request_id, now)
    item = {**item, "request_id": request_id}
    store = Store(s.db, s.clock)
    try:
        plan, enrichment = await plan_item(s, admitted.req, pb["provider"], pb["model"])
    except errors.ImageWorkerError as exc:  # no generation row yet, nothing reserved: the item ends with the error
        await batch_rows.finish_item(s.db, pb["batch_id"], int(item["idx"]), status="failed", request_id=None,
                                     error=exc.to_dict(), now=now)
        return None
    candidate = plan.primary
    estimate = offer.batch_micros(candidate.estimate.cost_micros)
    if await store.get_request(request_id) is None:
        created = await create_row(store, admitted, request_id, plan, enrichment,
                                   extra={"lane": "economy", "provider_batch": pb["id"]})
        if not created:  # the key belongs to an earlier generation: this item is that one, as in the standard lane
            found = await store.find_by_idempotency_key(admitted.caller, admitted.req.idempotency_key or "")
            status = found["status"] if found and found["status"] in batch_rows.TERMINAL else "failed"
            await batch_rows.finish_item(s.db, pb["batch_id"], int(item["idx"]), status=status,
                                         request_id=found["id"] if found else None, now=now,
                                         error=None if status == "succeeded" else {"code": "conflict", "message":
                                                "the idempotency key belongs to another generation"})
            return None
    await store.mark_running(request_id, provider=pb["provider"], model=candidate.preq.model, size=candidate.preq.size,
                             quality=candidate.preq.quality, estimate_micros=estimate, warnings=list(candidate.preq.warnings))
    answer = await s.ledger.reserve(reservation.reserve_request(
        admitted, request_id, candidate, estimate_micros=estimate, attempt_estimate_micros=estimate,
        hold_s=offer.gives_up_s + HOLD_MARGIN_S,  # the provider may take this long: so may the hold
        lane="economy"))
    refused = reservation.refusal(answer, candidate)
    if refused is not None:
        await record.fail(s, item, refused)
        return None
    custom_id = f"item-{int(item['idx'])}"
    day = answer.remaining.day if answer.remaining else utc_day(s.clock.now())
    await economy_rows.add_item(s.db, request_id=request_id, pb_id=pb["id"], batch_id=pb["batch_id"], idx=int(item["idx"]),
                        custom_id=custom_id, preq=record.preq_to_json(candidate.preq), day=day, reserved=estimate, now=now)
    await batch_rows.start_item(s.db, pb["batch_id"], int(item["idx"]), request_id, now)
    return adapter.line(custom_id, candidate.preq)


async def _fail_group(s: Services, pb: dict[str, Any], exc: errors.ImageWorkerError) -> None:
    """The provider batch could not be created: nothing was billed, every hold is released."""
    for item in await economy_rows.items(s.db, pb["id"], "open"):
        await record.fail(s, item, exc)
    for item in await economy_rows.group_items(s.db, pb["id"]):
        if item["status"] not in batch_rows.TERMINAL:
            await batch_rows.finish_item(s.db, item["batch_id"], int(item["idx"]), status="failed",
                                         request_id=item["request_id"], error=exc.to_dict(), now=_now(s))
    await economy_rows.update(s.db, pb["id"], _now(s), error=json.dumps(exc.to_dict()))
    await _done(s, pb)


async def _done(s: Services, pb: dict[str, Any]) -> None:
    await economy_rows.move(s.db, pb["id"], to="done", frm=("planned", "submitting", "submitted", "collecting"), now=_now(s),
                    done_at=_now(s))
    await finish_batch(s, pb["batch_id"])


# --- poll -----------------------------------------------------------------------


def _delay(s: Services, seq: int) -> float:
    delays = s.settings.economy_poll_delays_s
    return delays[min(seq, len(delays) - 1)]


async def _schedule(s: Services, pb: dict[str, Any], seq: int) -> None:
    assert s.queue is not None
    delay = _delay(s, seq)
    await s.queue.send({"type": "economy_poll", "pb": pb["id"], "seq": seq}, delay_s=delay)
    await economy_rows.update(s.db, pb["id"], _now(s), next_poll_at=iso(s.clock.now() + timedelta(seconds=delay)))


async def on_poll(s: Services, body: dict[str, Any], attempts: int) -> float | None:
    pb = await economy_rows.provider_batch(s.db, str(body["pb"]))
    seq = int(body.get("seq") or 0)
    if pb is None or pb["state"] in ("done", "planned", "submitting"):
        return None
    if pb["state"] == "submitted" and seq != int(pb["polls"]):
        return None  # a duplicate of a poll already done: its chain ends here
    adapter, offer = _offer(pb, s)
    max_polls = s.settings.economy_max_polls
    if not await economy_rows.claim_call(s.db, pb["id"], max_polls + CALL_MARGIN):
        await _give_up(s, pb, "the provider batch used up its calls")
        return None
    try:
        status = await adapter.status(pb["provider_batch_id"])
    except errors.ImageWorkerError as exc:
        _log("economy_poll_failed", pb=pb["id"], code=exc.code, deliveries=attempts)
        return _retry(attempts)
    await economy_rows.update(s.db, pb["id"], _now(s), provider_status=status.provider_status, counts=json.dumps(status.counts))
    if status.state not in TERMINAL and pb["state"] == "submitted":
        if seq + 1 >= max_polls:  # past the bound: stop the provider and keep what it finished
            await economy_rows.claim_call(s.db, pb["id"], max_polls + CALL_MARGIN)
            await adapter.cancel(pb["provider_batch_id"])
            _log("economy_cancelled", pb=pb["id"], polls=seq + 1)
        next_at = iso(s.clock.now() + timedelta(seconds=_delay(s, seq + 1)))
        if seq + 1 < max_polls + CALL_MARGIN // 2 and await economy_rows.advance_polls(s.db, pb["id"], seq, next_at, _now(s)):
            assert s.queue is not None
            await s.queue.send({"type": "economy_poll", "pb": pb["id"], "seq": seq + 1}, delay_s=_delay(s, seq + 1))
        return None
    await economy_rows.move(s.db, pb["id"], to="collecting", frm=("submitted",), now=_now(s))
    try:
        await collect(s, pb, adapter, offer, status)
    except errors.ImageWorkerError as exc:
        _log("economy_collect_failed", pb=pb["id"], code=exc.code, deliveries=attempts)
        return _retry(attempts)  # the next delivery collects again; finished items are skipped
    return None


async def collect(s: Services, pb: dict[str, Any], adapter: BatchAdapter, offer: BatchOffer, status: BatchStatus) -> None:
    """Every result line once; what has no line was not done and is released."""
    pb = await economy_rows.provider_batch(s.db, pb["id"]) or pb
    open_items = {e["custom_id"]: e for e in await economy_rows.items(s.db, pb["id"], "open")}
    bodies = {int(i["idx"]): i["body"] for i in await economy_rows.group_items(s.db, pb["id"])}
    preqs = {cid: record.preq_from_json(json.loads(e["preq"])) for cid, e in open_items.items()}
    succeeded = failed = 0
    async for outcome in adapter.results(pb["provider_batch_id"], status, preqs):
        item = open_items.pop(outcome.custom_id, None)
        if item is None:
            continue
        if outcome.result is not None:
            body = GenerationRequest.model_validate(json.loads(bodies[int(item["idx"])]))
            await record.succeed(s, pb, item, body, outcome.result, offer, outcome.part_costs)
            succeeded += 1
        else:
            await record.fail(s, item, outcome.error or errors.ProviderBadResponse("no result", provider=pb["provider"]))
            failed += 1
    why = status.error or f"the provider batch ended {status.provider_status} before this item was done"
    for item in open_items.values():
        await record.fail(s, item, errors.BatchUnfinished(why, provider=pb["provider"],
                                                          details={"provider_status": status.provider_status}))
    _log("economy_collected", pb=pb["id"], status=status.provider_status, succeeded=succeeded, failed=failed,
         unfinished=len(open_items))
    await _done(s, pb)


async def _give_up(s: Services, pb: dict[str, Any], why: str) -> None:
    for item in await economy_rows.items(s.db, pb["id"], "open"):
        await record.fail(s, item, errors.BatchUnfinished(why, provider=pb["provider"]))
    await _done(s, pb)


async def rekick(s: Services, overdue_s: int = 3600) -> int:
    """The cron's safety net: a provider batch whose next message never came gets one."""
    assert s.queue is not None
    found = await economy_rows.stalled(s.db, iso(s.clock.now() - timedelta(seconds=overdue_s)))
    for pb in found:
        if pb["state"] in ("planned", "submitting"):
            await s.queue.send({"type": "economy_submit", "pb": pb["id"]})
        else:
            await s.queue.send({"type": "economy_poll", "pb": pb["id"], "seq": int(pb["polls"])})
        await economy_rows.update(s.db, pb["id"], _now(s), next_poll_at=_now(s))
    return len(found)
