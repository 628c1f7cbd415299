"""One generation, from request to stored result, as a stream of events.

The order of effects is the product's promise:
  1. validate and plan (no row for a request we cannot even read);
  2. write the request row (`pending`) — before any money moves;
  3. reserve the worst case of the plan in the ledger (refusal → `refused`);
  4. per candidate, per attempt: take a concurrency slot, call, give the slot back;
     retry what is retryable (honouring Retry-After), fall back on what may fall back;
  5. success: images to R2, then images + links + usage + `succeeded` in one D1 batch,
     then settle the actual cost; failure: record it, settle what was spent or release.
Every exit path — including a crash or a cancelled stream — leaves the row
terminal and the reservation settled or released."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import random
from dataclasses import replace
from typing import Any, AsyncIterator

from .. import enrich, errors
from ..storage import contexts, images
from . import selection
from .inputs import load_inputs
from ..ids import new_id
from ..models import Event, GenerationRequest
from ..providers.base import ProviderResult
from ..storage.results import to_result
from ..services import Services
from ..storage.store import Attempt, ImageRow, Store

log = logging.getLogger("image_worker")


def _log(level: int, event: str, **fields: Any) -> None:
    """One JSON line per event (Workers Logs index them). Only ids, names, codes and
    numbers go in: never a prompt, a key or an image."""
    log.log(level, json.dumps({"event": event, **fields}, separators=(",", ":")))


class Generation:
    """Runs one request. Use `events()` for streaming or `result()` for a plain call."""

    def __init__(self, services: Services, req: GenerationRequest, *, partial_images: int = 0) -> None:
        self.s = services
        self.req = req
        self.partial_images = max(0, min(partial_images, 3))
        self.store = Store(services.db, services.clock)
        self.request_id = new_id("gen")
        self.caller = req.caller or services.settings.default_caller
        self._reserved = False
        self._spent_micros = 0  # billed by providers so far (a failed store still cost money)
        self._finished = False
        self.replayed = False
        self.api_key_id: str | None = None  # the API key that asked, for per-key budgets

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
        if key is not None:
            existing = await self.store.find_by_idempotency_key(self.caller, key)
            if existing is not None:
                async for event in self._replay(existing):
                    yield event
                return
        source_images, mask = await load_inputs(self.s, self.store, self.req, self.caller)
        await self.s.registry.prices.refresh(self.s.db, self.s.clock)  # run-time price overrides (catalog/overrides.py)
        enrichment = await enrich.prepare(self.s, self.req)
        plan = selection.plan(self.s.registry, self.s.settings, self.req.model_copy(update={"prompt": enrichment.compose().text}),
                              source_images, mask)
        plan = enrich.fit_plan(plan, enrichment)
        created = await self.store.create_request(
            self.request_id,
            caller=self.caller,
            kind="edit" if self.req.is_edit else "generate",
            prompt=self.req.prompt,
            params=self.req.model_dump(exclude={"prompt", "images", "mask", "links"}, exclude_none=True)
            | {"input_images": len(source_images), "mask": mask is not None},
            requested_provider=None if self.req.wants_auto else self.req.provider,
            n=self.req.n,
            links=[link.model_dump() for link in self.req.links],
            idempotency_key=key,
            request_hash=self.request_hash,
            api_key_id=self.api_key_id,
        )
        if not created:  # a concurrent request with the same key got there first
            existing = await self.store.find_by_idempotency_key(self.caller, key or "")
            assert existing is not None
            async for event in self._replay(existing):
                yield event
            return
        try:
            await contexts.record_prompt(self.s.db, self.request_id, enrichment.context, plan.primary.preq.prompt)
            yield self._event(
                "accepted",
                estimate_micros=plan.primary.estimate.cost_micros,
                reserve_micros=plan.reserve_micros,
                plan=[c.name for c in plan.candidates],
                skipped=plan.skipped,
            )
            await self._reserve(plan)
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

    async def _reserve(self, plan: selection.Plan) -> None:
        cap = self.req.max_cost_per_image_micros
        answer = await self.s.ledger.reserve(
            {
                "request_id": self.request_id,
                "caller": self.caller,
                "provider": plan.primary.name,
                "model": plan.primary.preq.model,
                "images": self.req.n,
                "estimate_micros": plan.reserve_micros,
                "cap_micros": cap * self.req.n if cap is not None else None,
            }
        )
        if not answer.get("ok"):
            raise errors.BudgetExceeded(
                answer.get("message") or "the budget does not allow this request",
                details={"reason": answer.get("reason"), "remaining": answer.get("remaining")},
            )
        self._reserved = True

    async def _attempts(self, plan: selection.Plan) -> AsyncIterator[Event]:
        settings = self.s.settings
        deadline = self.s.clock.monotonic() + settings.request_timeout_s
        last_error: errors.ImageWorkerError | None = None
        for candidate in plan.candidates:
            await self.store.mark_running(
                self.request_id,
                provider=candidate.name,
                model=candidate.preq.model,
                size=candidate.preq.size,
                quality=candidate.preq.quality,
                estimate_micros=candidate.estimate.cost_micros,
                warnings=list(candidate.preq.warnings),
            )
            for attempt in range(1, settings.max_attempts_per_provider + 1):
                yield self._event("attempt", provider=candidate.name, model=candidate.preq.model, attempt=attempt)
                started = self.s.clock.monotonic()
                try:
                    result: ProviderResult | None = None
                    async for step in self._call(candidate, deadline):
                        if step.kind == "partial_image" and step.image is not None:
                            yield self._event(
                                "partial_image",
                                index=step.index,
                                content_type=step.image.content_type,
                                b64=base64.b64encode(step.image.data).decode(),
                            )
                        elif step.kind == "result":
                            result = step.result
                    if result is None or not result.images:
                        raise errors.ProviderBadResponse(f"{candidate.name} returned no images", provider=candidate.name)
                except errors.ImageWorkerError as exc:
                    exc.provider = exc.provider or candidate.name
                    latency = self._ms_since(started)
                    if isinstance(exc, errors.ProviderError):
                        self.s.registry.record(candidate.name, False, latency, exc.code)
                    outcome = "refused" if isinstance(exc, errors.ProviderRefused) else "failed"
                    await self.store.record_attempt(
                        Attempt(self.request_id, candidate.name, candidate.preq.model, attempt, outcome,
                                latency_ms=latency, error_code=exc.code)
                    )
                    last_error = exc
                    _log(logging.WARNING, "attempt_failed", request_id=self.request_id, provider=candidate.name,
                         attempt=attempt, code=exc.code, latency_ms=latency)
                    delay = self._retry_delay(exc, attempt)
                    if delay is not None and self.s.clock.monotonic() + delay < deadline:
                        yield self._event("retry", provider=candidate.name, attempt=attempt, error=exc.to_dict(), delay_s=delay)
                        await self.s.clock.sleep(delay)
                        continue
                    if exc.fallback and candidate is not plan.candidates[-1]:
                        break  # next candidate
                    raise
                latency = self._ms_since(started)
                self.s.registry.record(candidate.name, True, latency)
                _log(logging.INFO, "generation_succeeded", request_id=self.request_id, provider=candidate.name,
                     model=result.model, attempt=attempt, images=len(result.images), cost_micros=result.cost_micros,
                     latency_ms=latency)
                async for event in self._store_success(candidate, attempt, result, latency):
                    yield event
                return
        assert last_error is not None
        raise last_error

    async def _call(self, candidate: selection.Candidate, deadline: float) -> AsyncIterator[Any]:
        """The provider call under a concurrency slot and the request's deadline."""
        remaining = deadline - self.s.clock.monotonic()
        if remaining <= 0:
            raise errors.ProviderTimeout("the request ran out of time", provider=candidate.name)
        slot = await self.s.ledger.acquire_slot(self.request_id, candidate.name, min(self.s.settings.slot_wait_s, remaining))
        if not slot.get("ok"):
            raise errors.CapacityTimeout(slot.get("message") or f"no {candidate.name} slot came free in time", provider=candidate.name)
        stream = None
        try:
            preq = candidate.preq
            if self.partial_images and candidate.provider.capabilities.native_streaming:
                preq = replace(preq, partial_images=self.partial_images)
            stream = candidate.provider.stream(preq)
            while True:
                left = deadline - self.s.clock.monotonic()
                try:
                    step = await asyncio.wait_for(stream.__anext__(), timeout=max(left, 0.001))
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError as exc:
                    raise errors.ProviderTimeout(
                        f"{candidate.name} did not finish within {self.s.settings.request_timeout_s:g}s", provider=candidate.name
                    ) from exc
                yield step
        finally:
            try:
                if stream is not None:
                    await stream.aclose()  # closes the provider connection if we stopped early
            finally:
                await self.s.ledger.release_slot(self.request_id, candidate.name)

    def _retry_delay(self, exc: errors.ImageWorkerError, attempt: int) -> float | None:
        """Seconds to wait before retrying the same provider, or None to stop retrying it."""
        settings = self.s.settings
        if not exc.retryable or attempt >= settings.max_attempts_per_provider:
            return None
        if exc.retry_after_s is not None:
            # A long Retry-After means "not now": better served by the next provider.
            return exc.retry_after_s if exc.retry_after_s <= settings.retry_max_delay_s else None
        backoff = settings.retry_base_delay_s * (2 ** (attempt - 1))
        return min(settings.retry_max_delay_s, backoff * (0.5 + random.random() / 2))

    async def _store_success(
        self, candidate: selection.Candidate, attempt: int, result: ProviderResult, latency_ms: int
    ) -> AsyncIterator[Event]:
        self._spent_micros += result.cost_micros
        when = self.s.clock.now()
        rows: list[ImageRow] = []
        try:
            for index, image in enumerate(result.images):
                rows.append(
                    await images.put_image(
                        self.s.objects, image, request_id=self.request_id, index=index,
                        provider=candidate.name, model=result.model, when=when,
                    )
                )
            warnings = list(dict.fromkeys(list(candidate.preq.warnings) + result.warnings))
            if result.filtered:
                warnings.append(f"{result.filtered} image(s) withheld by {candidate.name}'s safety filter")
            await self.store.succeed(
                self.request_id,
                images=rows,
                attempt=Attempt(
                    self.request_id, candidate.name, result.model, attempt, "succeeded", images=len(rows),
                    filtered=result.filtered, cost_micros=result.cost_micros, usage=result.usage, latency_ms=latency_ms,
                ),
                provider=candidate.name,
                model=result.model,
                size=result.size or candidate.preq.size,
                actual_micros=result.cost_micros,
                warnings=warnings,
                links=[link.model_dump() for link in self.req.links],
                approval_status=self.s.settings.approval_default,
            )
        except BaseException:
            await images.delete_images(self.s.objects, rows)
            raise
        self._finished = True
        await self._settle(result.cost_micros, {"provider": candidate.name, "model": result.model, "images": len(rows)})
        result_dict = await self.load_result()
        for image in result_dict["images"]:
            yield self._event("image", image=image)
        yield self._event("completed", result=result_dict)

    async def _settle(self, actual_micros: int, details: dict[str, Any]) -> None:
        """Charge what was spent. Settling is idempotent, so a failed call is retried: if it
        never lands, the reservation's lease would expire and the spend go unrecorded."""
        if not self._reserved:
            return
        self._reserved = False
        for attempt in range(3):
            try:
                await self.s.ledger.settle(self.request_id, actual_micros, details)
                return
            except Exception as exc:  # noqa: BLE001 - the ledger is reached over RPC on Cloudflare
                _log(logging.ERROR, "settle_failed", request_id=self.request_id, attempt=attempt + 1,
                     micros=actual_micros, error=type(exc).__name__)
                if attempt == 2:
                    # The images exist and D1 has the cost (usage_events): failing the caller now
                    # would help no one. The ledger undercounts until its lease expires; logged.
                    return
                await self.s.clock.sleep(0.2 * 2**attempt)

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
