"""One generation, from request to stored result, as a stream of events.

The order of effects is the product's promise:
  1. validate and plan (no row for a request we cannot even read);
  2. write the request row (`pending`) — before any money moves;
  3. per candidate, per attempt (attempts.py): reserve that attempt's estimate and
     take a concurrency slot in one ledger call (refusal → next candidate, or
     `refused`), call, retry what is retryable (honouring Retry-After), fall back
     on what may fall back;
  4. success (record.py): images to R2, then images + links + usage + `succeeded`
     in one D1 batch, then settle and give the slot back in one ledger call;
     failure: record it, charge what was (or may have been) billed, else release.
Every exit path — including a crash or a cancelled stream — leaves the row
terminal and the reservation settled or released."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any, AsyncIterator

from .. import enrich, errors
from . import idempotency, selection
from .inputs import load_inputs
from ..ids import new_id
from ..models import Event, GenerationRequest
from ..storage.results import to_result
from ..services import Services
from ..storage import images
from ..storage.store import ImageRow, Store
from .attempts import AttemptsMixin
from .record import RecordMixin

class Generation(AttemptsMixin, RecordMixin):
    """Runs one request. Use `events()` for streaming or `result()` for a plain call."""

    def __init__(self, services: Services, req: GenerationRequest, *, partial_images: int = 0) -> None:
        self.s = services
        self.req = req
        self.partial_images = max(0, min(partial_images, 3))
        self.store = Store(services.db, services.clock)
        self.request_id = new_id("gen", services.clock.now())
        self.caller = req.caller or services.settings.default_caller
        self._reserved = False  # a ledger reservation is open for this request
        self._spent_micros = 0  # billed (or possibly billed) by providers so far
        self._finished = False
        self._stored: list[ImageRow] = []  # images in R2, not yet recorded in D1
        self.replayed = False
        self.api_key_id: str | None = None  # the API key that asked (admission.py): recorded on the row
        self.key_budget_micros: int | None = None  # its daily budget, held in the ledger with each reservation
        self.progress = False  # estimated `progress` events for providers that do not stream (progress.py)

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
        key = self.req.idempotency_key
        retry_of = None
        if key is not None:
            existing = await self.store.find_by_idempotency_key(self.caller, key)
            if existing is not None and not await self._retry_instead(existing):
                async for event in self._replay(existing):
                    yield event
                return
            retry_of = existing["id"] if existing is not None else None
        source_images, mask = await load_inputs(self.s, self.store, self.req, self.caller)
        await self.s.registry.prices.refresh(self.s.db, self.s.clock)  # run-time price overrides (catalog/overrides.py)
        enrichment = await enrich.prepare(self.s, self.req)  # narrative context -> the prompt sent
        plan = selection.plan(self.s.registry, self.s.settings, self.req.model_copy(update={"prompt": enrichment.compose().text}),
                              source_images, mask, self.partial_images)
        plan = enrich.fit_plan(plan, enrichment)  # each candidate within its model's prompt limit
        created = await self.store.create_request(
            self.request_id,
            caller=self.caller,
            kind="edit" if self.req.is_edit else "generate",
            prompt=self.req.prompt,
            params=self.req.model_dump(exclude={"prompt", "images", "mask", "links"}, exclude_none=True)
            | {"input_images": len(source_images), "mask": mask is not None}
            | ({"retry_of": retry_of} if retry_of else {}),
            requested_provider=None if self.req.wants_auto else self.req.provider,
            n=self.req.n,
            links=[link.model_dump() for link in self.req.links],
            idempotency_key=key,
            request_hash=self.request_hash,
            api_key_id=self.api_key_id,
            context=enrichment.context,
            sent_prompt=plan.primary.preq.prompt,
        )
        if not created:  # a concurrent request with the same key got there first
            existing = await self.store.find_by_idempotency_key(self.caller, key or "")
            assert existing is not None
            async for event in self._replay(existing):
                yield event
            return
        try:
            yield self._event(
                "accepted",
                estimate_micros=plan.primary.estimate.cost_micros,
                reserve_micros=plan.reserve_micros,
                plan=[c.name for c in plan.candidates],
                skipped=plan.skipped,
            )
            async for event in self._attempts(plan):
                yield event
        except BaseException as exc:  # noqa: BLE001 - every exit leaves the row terminal
            await self._finish_unsuccessfully(exc)
            if isinstance(exc, errors.ImageWorkerError):
                exc.details.setdefault("request_id", self.request_id)
            raise

    # --- steps -----------------------------------------------------------------

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
        self.request_id = existing["id"]
        self.replayed = True
        details = {"request_id": existing["id"], "idempotent_replay": True}
        if existing["request_hash"] != self.request_hash:
            raise errors.Conflict("this idempotency key was already used for a different request", details=details)
        if existing["status"] in ("pending", "running"):
            raise errors.Conflict("the request with this idempotency key is still in progress", details=details)
        result = await self.load_result()
        if result["status"] != "succeeded":
            exc = errors.from_dict(result["error"] or {"code": "internal_error"})
            exc.details.update(details)
            raise exc
        yield self._event("completed", result=result, idempotent_replay=True)


    async def _finish_unsuccessfully(self, exc: BaseException) -> None:
        if isinstance(exc, errors.ImageWorkerError):
            error = exc.to_dict()
        elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            error = {"code": "cancelled", "message": "the caller went away before the generation finished"}
        else:
            error = {"code": "internal_error", "message": f"unexpected {type(exc).__name__}"}
        status = "refused" if isinstance(exc, (errors.BudgetExceeded, errors.CapacityTimeout)) else "failed"
        try:
            if not self._finished:
                if self._stored:  # stored before the failure, never recorded: nothing may point at them
                    await images.delete_images(self.s.objects, self._stored)
                await self.store.finish_unsuccessfully(self.request_id, status=status, error=error, actual_micros=self._spent_micros)
        finally:
            if self._reserved:
                if self._spent_micros:
                    await self._settle(self._spent_micros, {"failed": error["code"]})
                else:
                    self._reserved = False
                    await self.s.ledger.release(self.request_id, error["code"])

    # --- helpers ---------------------------------------------------------------

    async def load_result(self) -> dict[str, Any]:
        row = await self.store.get_request(self.request_id)
        assert row is not None
        return to_result(row, self.s.settings.public_base_url)

    def _event(self, kind: str, **data: Any) -> Event:
        return Event(type=kind, request_id=self.request_id, data=data)  # type: ignore[arg-type]

    def _ms_since(self, started: float) -> int:
        return max(0, int((self.s.clock.monotonic() - started) * 1000))
