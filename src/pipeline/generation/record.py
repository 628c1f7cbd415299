"""Recording a generation's outcome: images to R2, one D1 batch, one ledger settle.

Order matters for "nothing orphaned": the R2 objects are written first, then
the D1 batch that records them. If the isolate dies in between, the objects'
keys are derived from the request id (storage/images.py), so the maintenance
job removes them when it marks the request abandoned (maintenance.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, AsyncIterator

from .. import errors
from ..models import Event
from ..providers.base import ProviderResult
from ..storage import images
from ..storage.store import Attempt, ImageRow
from . import selection, storage_retry
from .attempts import log_event

if TYPE_CHECKING:
    from ..models import GenerationRequest
    from ..services import Services
    from ..storage.store import Store


class RecordMixin:
    s: Services
    req: GenerationRequest
    store: Store
    request_id: str
    _reserved: bool
    _spent_micros: int
    _finished: bool
    _stored: list[ImageRow]
    deadline: float

    if TYPE_CHECKING:  # provided by generation.py
        def _event(self, kind: str, **data: Any) -> Event: ...

        async def load_result(self) -> dict[str, Any]: ...

    async def _store_success(
        self, candidate: selection.Candidate, attempt: int, results: list[ProviderResult], latency_ms: int
    ) -> AsyncIterator[Event]:
        result = results[0]
        for more in results[1:]:
            result = result.merge(more)
        rows = self._stored  # written to R2 as each call ended (attempts.py)
        try:
            warnings = list(dict.fromkeys(list(candidate.preq.warnings) + result.warnings))
            if result.filtered:
                warnings.append(f"{result.filtered} image(s) withheld by {candidate.name}'s safety filter")
            await storage_retry.durably(self.s.clock, self.deadline, "D1 batch", lambda: self.store.succeed(
                self.request_id,
                images=rows,
                attempt=Attempt(
                    self.request_id, candidate.name, result.model, attempt, "succeeded", images=len(rows),
                    filtered=result.filtered, cost_micros=result.cost_micros, usage=result.usage, latency_ms=latency_ms,
                ),
                provider=candidate.name,
                model=result.model,
                size=result.size or candidate.preq.size,
                actual_micros=self._spent_micros,  # this attempt and any earlier billed ones
                warnings=warnings,
                links=[link.model_dump() for link in self.req.links],
                approval_status=self.s.settings.approval_default,
            ), request_id=self.request_id, policy=storage_retry.policy_for(self.s.settings.retry_base_delay_s),
                landed=self._recorded)
        except errors.StorageUnavailable as exc:
            exc.details["billed_images_lost"] = len(rows)  # _finish_unsuccessfully records it on the row
            raise
        self._finished = True
        if result.cost_micros > candidate.estimate.cost_micros:
            log_event(logging.WARNING, "estimate_overrun", request_id=self.request_id, provider=candidate.name,
                      estimate_micros=candidate.estimate.cost_micros, actual_micros=result.cost_micros)
        await self._settle(self._spent_micros, {"provider": candidate.name, "model": result.model, "images": len(rows)})
        result_dict = await self.load_result()
        for image in result_dict["images"]:
            yield self._event("image", image=image)
        yield self._event("completed", result=result_dict)

    async def _store_images(self, candidate: selection.Candidate, result: ProviderResult) -> None:
        """One finished call's images to R2, one at a time (its bytes are let go after)."""
        when = self.s.clock.now()
        policy = storage_retry.policy_for(self.s.settings.retry_base_delay_s)
        for n, image in enumerate(result.images):
            row = images.image_row(image, request_id=self.request_id, index=len(self._stored), provider=candidate.name,
                                   model=result.model, when=when)
            try:
                await storage_retry.durably(self.s.clock, self.deadline, "R2 put",
                                            lambda: images.put_row(self.s.objects, image, row),
                                            request_id=self.request_id, policy=policy)
            except errors.StorageUnavailable as exc:
                exc.details["billed_images_lost"] = len(self._stored) + len(result.images) - n
                raise
            self._stored.append(row)

    async def _recorded(self) -> bool:
        """Whether the success batch landed although its answer was lost."""
        row = await self.store.get_request(self.request_id)
        return row is not None and row["status"] == "succeeded"

    async def _settle(self, actual_micros: int, details: dict[str, Any]) -> None:
        """Charge what was spent and give the slot back, in one ledger call. Settling is
        idempotent, so a failed call is retried; the cron reconciles one that never lands."""
        if not self._reserved:
            return
        self._reserved = False
        for attempt in range(3):
            try:
                await self.s.ledger.settle(self.request_id, actual_micros, details)
                return
            except Exception as exc:  # noqa: BLE001 - the ledger is reached over RPC on Cloudflare
                log_event(logging.ERROR, "settle_failed", request_id=self.request_id, attempt=attempt + 1,
                          micros=actual_micros, error=type(exc).__name__)
                if attempt == 2:
                    # The images exist and D1 has the cost: failing the caller now would help
                    # no one. The cron's reconciliation charges it from D1.
                    return
                await self.s.clock.sleep(0.2 * 2**attempt)
