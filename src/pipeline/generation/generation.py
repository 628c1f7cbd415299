"""One generation, from request to stored result, as a stream of events.

The order of effects is the product's promise:
  1. validate and plan (selection.py; no row for a request we cannot even read);
  2. write the request row (`pending`) — before any money moves;
  3. per candidate, per attempt (attempts.py): reserve that attempt's estimate and
     take a concurrency slot in one ledger call (reservation.py; refusal → next
     candidate, or `refused`), make the provider calls (calls.py), retry what is
     retryable (honouring Retry-After), fall back on what may fall back;
  4. success (record.py): images to R2, then images + links + usage + `succeeded`
     in one D1 batch, then settle and give the slot back in one ledger call;
     failure: record it, charge what was (or may have been) billed, else release.
Every exit path — including a crash or a cancelled stream — leaves the row
terminal and the reservation settled or released. The state all steps share is
one object (state.py); each step is a function over it."""

from __future__ import annotations

from typing import Any, AsyncIterator

from .. import errors, retry
from ..models import Event, GenerationRequest
from ..services import Services
from ..storage.store import Store
from . import attempts, calls, idempotency, planning, record, references, selection
from .inputs import load_inputs
from .request_row import create_row
from .state import Admitted, GenerationState


class Generation:
    """Runs one request. Use `events()` for streaming or `result()` for a plain call."""

    def __init__(self, services: Services, admitted: Admitted, *, partial_images: int = 0,
                 progress: bool = False) -> None:
        """Doors do not build one: admission.py does, from what it admitted."""
        self.state = GenerationState.new(services, admitted, partial_images)
        self.state.progress = progress

    # --- what the doors read ---------------------------------------------------

    @property
    def s(self) -> Services:
        return self.state.s

    @property
    def admitted(self) -> Admitted:
        return self.state.admitted

    @property
    def req(self) -> GenerationRequest:
        return self.state.req

    @property
    def store(self) -> Store:
        return self.state.store

    @property
    def caller(self) -> str:
        return self.state.caller

    @property
    def request_id(self) -> str:
        return self.state.request_id

    @property
    def replayed(self) -> bool:
        return self.state.replayed

    @property
    def api_key_id(self) -> str | None:
        return self.state.api_key_id

    # --- public ----------------------------------------------------------------

    async def result(self) -> dict[str, Any]:
        """Run to the end; return the result dict, or raise the typed error (with `request_id`)."""
        final: dict[str, Any] | None = None
        async for event in self.events():
            if event.type == "completed":
                final = event.data["result"]
        assert final is not None
        return final

    async def events(self) -> AsyncIterator[Event]:
        """The generation as events; ends with `completed`, or raises the typed error
        after the row is terminal (the error's details carry `request_id`). The image
        bytes it holds (inputs, provider answers) are taken from the isolate's budget
        before they are fetched or asked for, and given back when it ends."""
        wait_s = min(self.s.settings.slot_wait_s, self.s.settings.request_timeout_s)
        steps = self._events()
        async with self.s.memory.hold(self.request_id, wait_s) as self.state.hold:
            try:
                async for event in steps:
                    yield event
            finally:  # a caller that goes away closes the steps now (the row terminal), then the bytes go
                await steps.aclose()

    async def _events(self) -> AsyncIterator[Event]:
        state, s, req = self.state, self.state.s, self.state.req
        key = req.idempotency_key
        retry_of = None
        if key is not None:
            existing = await state.store.find_by_idempotency_key(state.caller, key)
            if existing is not None and not await self._retry_instead(existing):
                async for event in self._replay(existing):
                    yield event
                return
            retry_of = existing["id"] if existing is not None else None
        source_images, mask = await load_inputs(s, req, state.caller, hold=state.hold)
        if req.references:  # the models' limits first: no variant is made for references no model takes
            selection.plan(s.registry, s.settings, req, source_images, mask, references=references.stand_ins(req))
        refs = await references.resolve(s, req, state.caller)  # the caller's entities' approved primaries
        if refs.images and state.hold is not None:  # small variants, counted once they are known
            await state.hold.take(sum(len(image.data) for image in refs.images), "its reference images")
        plan, enrichment = await planning.plan_request(s, req, source_images, mask, state.partial_images,
                                                       now=s.clock.monotonic(), refs=refs)
        created = False

        async def insert() -> None:
            nonlocal created
            created = await create_row(state.store, state.admitted, state.request_id, plan, enrichment,
                                       input_images=len(source_images), mask=mask is not None,
                                       extra={"retry_of": retry_of} if retry_of else None, references=refs.used)

        async def landed() -> bool:  # the insert's answer was lost: did our row land?
            nonlocal created
            created = await state.store.request_exists(state.request_id)
            return created

        try:  # nothing is spent yet, but a transient D1 failure here need not fail the request
            await retry.durably(s.clock, s.clock.monotonic(), "D1 insert", insert, request_id=state.request_id,
                                policy=retry.writes_policy(s.settings.retry_base_delay_s), landed=landed)
        except errors.ImageWorkerError as exc:  # the row may exist (the write landed): name it
            exc.details.setdefault("request_id", state.request_id)
            raise
        if not created:  # a concurrent request with the same key got there first
            existing = await state.store.find_by_idempotency_key(state.caller, key or "")
            assert existing is not None
            async for event in self._replay(existing):
                yield event
            return
        try:
            assert state.hold is not None
            await state.hold.take(calls.peak_output_bytes(plan.candidates), "its provider calls")  # before any money
            yield state.event(
                "accepted",
                estimate_micros=plan.primary.estimate.cost_micros,
                reserve_micros=plan.reserve_micros,
                plan=[c.name for c in plan.candidates],
                skipped=plan.skipped,
            )
            async for event in attempts.run(state, plan):
                yield event
        except BaseException as exc:  # every exit leaves the row terminal
            await record.finish_unsuccessfully(state, exc)
            if isinstance(exc, errors.ImageWorkerError):
                exc.details.setdefault("request_id", state.request_id)
            raise

    # --- idempotency -----------------------------------------------------------

    async def _retry_instead(self, existing: dict[str, Any]) -> bool:
        """A key whose request failed retryably (or was abandoned) gets a new attempt,
        linked to the first, instead of replaying that failure forever."""
        if existing["request_hash"] != self.admitted.request_hash or not idempotency.retries(existing):
            return False
        return await self.store.free_idempotency_key(existing["id"], self.request_id, self.caller,
                                                     self.req.idempotency_key or "")

    async def _replay(self, existing: dict[str, Any]) -> AsyncIterator[Event]:
        """The first request with this idempotency key, instead of a second charge."""
        state = self.state
        state.request_id = existing["id"]
        state.replayed = True
        details = {"request_id": existing["id"], "idempotent_replay": True}
        if existing["request_hash"] != self.admitted.request_hash:
            raise errors.Conflict("this idempotency key was already used for a different request", details=details)
        if existing["status"] in ("pending", "running"):
            raise errors.Conflict("the request with this idempotency key is still in progress", details=details)
        result = await record.load_result(state)
        if result["status"] != "succeeded":
            exc = errors.from_dict(result["error"] or {"code": "internal_error"})
            exc.details.update(details)
            raise exc
        yield state.event("completed", result=result, idempotent_replay=True)
