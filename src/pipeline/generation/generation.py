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

import hashlib
import json
from dataclasses import replace
from typing import Any, AsyncIterator

from .. import enrich, errors
from ..models import Event, GenerationRequest
from ..services import Services
from ..storage.store import Store
from . import attempts, idempotency, record, references, selection, storage_retry
from .inputs import load_inputs
from .state import GenerationState


class Generation:
    """Runs one request. Use `events()` for streaming or `result()` for a plain call."""

    def __init__(self, services: Services, req: GenerationRequest, *, partial_images: int = 0,
                 api_key_id: str | None = None, key_budget_micros: int | None = None, progress: bool = False) -> None:
        """Doors do not build one: admission.py does, with the key that asked and its budget."""
        self.state = GenerationState.new(services, req, partial_images)
        self.state.api_key_id, self.state.key_budget_micros, self.state.progress = api_key_id, key_budget_micros, progress

    # --- what the doors read and set ---------------------------------------------

    @property
    def s(self) -> Services:
        return self.state.s

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
        after the row is terminal (the error's details carry `request_id`)."""
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
        source_images, mask = await load_inputs(s, req, state.caller)
        if req.references:  # the models' limits first: no variant is made for references no model takes
            selection.plan(s.registry, s.settings, req, source_images, mask, references=references.stand_ins(req))
        refs = await references.resolve(s, req, state.caller)  # the caller's entities' approved primaries
        await s.registry.prices.refresh(s.db, s.clock)  # run-time price overrides (catalog/overrides.py)
        enrichment = await enrich.prepare(s, references.for_enrichment(req, refs), state.caller)  # context -> prompt
        enrichment = replace(enrichment, prompt=enrichment.prompt + refs.legend)
        plan = selection.plan(s.registry, s.settings, req.model_copy(update={"prompt": enrichment.compose().text}),
                              source_images, mask, state.partial_images, refs.images)
        plan = references.with_warnings(enrich.fit_plan(plan, enrichment), refs)  # each within its prompt limit
        created = False

        async def insert() -> None:
            nonlocal created
            created = await state.store.create_request(
                state.request_id,
                caller=state.caller,
                kind="edit" if req.is_edit else "generate",
                prompt=req.prompt,
                params=req.model_dump(exclude={"prompt", "images", "mask", "links", "references"}, exclude_none=True)
                | {"input_images": len(source_images), "mask": mask is not None}
                | ({"retry_of": retry_of} if retry_of else {}),
                requested_provider=None if req.wants_auto else req.provider,
                n=req.n,
                links=[link.model_dump() for link in req.links],
                idempotency_key=key,
                request_hash=self.request_hash,
                api_key_id=state.api_key_id,
                context=enrichment.context,
                sent_prompt=plan.primary.preq.prompt,
                references=list(refs.used),
            )

        async def landed() -> bool:  # the insert's answer was lost: did our row land?
            nonlocal created
            created = await state.store.request_exists(state.request_id)
            return created

        try:  # nothing is spent yet, but a transient D1 failure here need not fail the request
            await storage_retry.durably(s.clock, s.clock.monotonic(), "D1 insert", insert, request_id=state.request_id,
                                        policy=storage_retry.policy_for(s.settings.retry_base_delay_s), landed=landed)
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
            yield state.event(
                "accepted",
                estimate_micros=plan.primary.estimate.cost_micros,
                reserve_micros=plan.reserve_micros,
                plan=[c.name for c in plan.candidates],
                skipped=plan.skipped,
            )
            async for event in attempts.run(state, plan):
                yield event
        except BaseException as exc:  # noqa: BLE001 - every exit leaves the row terminal
            await record.finish_unsuccessfully(state, exc)
            if isinstance(exc, errors.ImageWorkerError):
                exc.details.setdefault("request_id", state.request_id)
            raise

    # --- idempotency -----------------------------------------------------------

    @property
    def request_hash(self) -> str:
        canonical = self.req.model_dump(mode="json", exclude={"idempotency_key"})
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    async def _retry_instead(self, existing: dict[str, Any]) -> bool:
        """A key whose request failed retryably (or was abandoned) gets a new attempt,
        linked to the first, instead of replaying that failure forever."""
        if existing["request_hash"] != self.request_hash or not idempotency.retries(existing):
            return False
        return await idempotency.free_key(self.s.db, existing["id"], self.request_id, self.caller,
                                          self.req.idempotency_key or "")

    async def _replay(self, existing: dict[str, Any]) -> AsyncIterator[Event]:
        """The first request with this idempotency key, instead of a second charge."""
        state = self.state
        state.request_id = existing["id"]
        state.replayed = True
        details = {"request_id": existing["id"], "idempotent_replay": True}
        if existing["request_hash"] != self.request_hash:
            raise errors.Conflict("this idempotency key was already used for a different request", details=details)
        if existing["status"] in ("pending", "running"):
            raise errors.Conflict("the request with this idempotency key is still in progress", details=details)
        result = await record.load_result(state)
        if result["status"] != "succeeded":
            exc = errors.from_dict(result["error"] or {"code": "internal_error"})
            exc.details.update(details)
            raise exc
        yield state.event("completed", result=result, idempotent_replay=True)
