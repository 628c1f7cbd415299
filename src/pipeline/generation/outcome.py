"""The one way a request's outcome is written, for every lane.

A generation (record.py), the economy lane (economy/record.py) and the cron finishing a
request from R2 (recovery.py) describe what happened in a `Success` or a `Failure` and
call the same functions; they differ only in data (the price charged, the notes added).
The policy for our own storage failing after a provider billed is the same everywhere:

- each R2 put is retried (retry.durably); when R2 gives up after some images are
  stored, the request succeeds with those (and a warning); with none, it fails saying how
  many paid images were lost (`put_images`);
- the success batch is retried; one whose answer was lost (it landed) is not run twice;
  when D1 gives up, the images stay in R2 with their rows in metadata and the row stays
  open, so the cron records them (recovery.py; the client reads
  `details.images_kept_for_recovery`);
- a failure deletes the images stored before it only once the row is terminal (nothing
  may point at them), never while it could still be recorded."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .. import errors, retry
from ..logs import event as log_event
from ..models import GenerationRequest
from ..providers.base import GeneratedImage, ProviderResult
from ..retry import RetryPolicy
from ..services import Services
from ..storage import images
from ..storage.store import Attempt, ImageRow, Store


@dataclass(frozen=True)
class Stored:
    """What `put_images` kept in R2 of one result, and how many billed images it could not."""

    rows: list[ImageRow]
    lost: int = 0
    error: errors.ImageWorkerError | None = None


@dataclass(frozen=True)
class Success:
    """A request's success: its images (already in R2), the attempt that made them, what the
    request is charged in all (`charged_micros`), its warnings and links. `only_if_open`: the
    cron's recovery, which must not overwrite a row someone else finished meanwhile."""

    request_id: str
    provider: str
    model: str
    size: str | None
    images: list[ImageRow]
    attempt: Attempt
    charged_micros: int
    warnings: list[str]
    links: list[dict[str, str]]
    only_if_open: bool = False


@dataclass(frozen=True)
class Failure:
    """A request's end without success: `failed` or `refused`, the error the client reads,
    what it is charged (what a provider billed, or may have), and a warning about paid
    images that were lost."""

    request_id: str
    status: str
    error: dict[str, Any]
    charged_micros: int = 0
    warnings: list[str] | None = field(default=None)


def failure_status(exc: BaseException) -> str:
    """`refused` when our budget or capacity refused the request before a provider ran it;
    any other end (a provider's safety refusal included) is `failed`."""
    return "refused" if isinstance(exc, (errors.BudgetExceeded, errors.CapacityTimeout)) else "failed"


def retry_policy(s: Services) -> RetryPolicy:
    return retry.writes_policy(s.settings.retry_base_delay_s)


async def put_images(s: Services, generated: list[GeneratedImage], *, request_id: str, first_index: int,
                     provider: str, model: str, deadline: float) -> Stored:
    """One result's images to R2, one at a time, each retried before it is given up; stops at
    the first R2 gives up on (what follows would meet the same outage)."""
    when = s.clock.now()
    rows: list[ImageRow] = []
    for n, image in enumerate(generated):
        row = images.image_row(image, request_id=request_id, index=first_index + n, provider=provider, model=model,
                               when=when)
        try:  # the provider billed it: retried before it is given up (retry.durably)
            await retry.durably(s.clock, deadline, "R2 put", lambda: images.put_row(s.objects, image, row),  # noqa: B023  # awaited within this iteration
                                request_id=request_id, policy=retry_policy(s))
        except errors.StorageUnavailable as exc:
            return Stored(rows, len(generated) - n, exc)
        rows.append(row)
    return Stored(rows)


def lost_warning(lost: int, code: str | None = None) -> str:
    return f"{lost} image(s) billed by the provider could not be stored and were lost" + (f" ({code})" if code else "")


def warnings_of(preq_warnings: tuple[str, ...] | list[str], result: ProviderResult, provider: str,
                notes: tuple[str, ...] = ()) -> list[str]:
    """A success's warnings: the request's for this provider, the call's, what a safety filter
    withheld, and the lane's notes; each once, in order."""
    found = [*preq_warnings, *result.warnings]
    if result.filtered:
        found.append(f"{result.filtered} image(s) withheld by {provider}'s safety filter")
    return list(dict.fromkeys([*found, *notes]))


def links_of(req: GenerationRequest) -> list[dict[str, str]]:
    return [link.model_dump() for link in req.links]


async def record_success(s: Services, store: Store, success: Success, *, deadline: float) -> None:
    """The success batch (images, links, the attempt's usage row, `succeeded`), retried within
    the deadline plus the storing grace; raises StorageUnavailable when D1 gives up, with the
    images left in R2 for the cron."""

    async def landed() -> bool:  # the batch's answer was lost: did it land?
        row = await store.get_request(success.request_id)
        if row is None or row["status"] != "succeeded":
            return False
        store.forget(success.request_id)  # the answer is D1's row, not what this Store last wrote
        return True

    try:
        await retry.durably(s.clock, deadline, "D1 batch", lambda: store.succeed(
            success.request_id, images=success.images, attempt=success.attempt, provider=success.provider,
            model=success.model, size=success.size, actual_micros=success.charged_micros, warnings=success.warnings,
            links=success.links, approval_status=s.settings.approval_default, only_if_open=success.only_if_open,
        ), request_id=success.request_id, policy=retry_policy(s), landed=landed)
    except errors.StorageUnavailable as exc:
        # Not failed, not deleted: even if D1 answers again in time to mark it failed, the row
        # stays open and the cron records the images R2 holds (recovery.py).
        log_event(logging.ERROR, "success_unrecorded", request_id=success.request_id, images=len(success.images),
                  charged_micros=success.charged_micros)
        exc.details["images_kept_for_recovery"] = len(success.images)  # what the client reads
        raise


async def record_failure(s: Services, store: Store, failure: Failure, stored: list[ImageRow] | None = None) -> bool:
    """The row terminal with the error, charged what was spent; the images stored before the
    failure deleted once nothing can point at them. False when the row was already terminal.
    A D1 failure is raised (the caller decides: a generation leaves the row to the cron)."""
    changed = await store.finish_unsuccessfully(failure.request_id, status=failure.status, error=failure.error,
                                                actual_micros=failure.charged_micros, warnings=failure.warnings)
    if changed and stored:
        await images.delete_images(s.objects, stored)
    return changed
