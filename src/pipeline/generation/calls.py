"""The provider calls of one attempt: the one place `n` is split.

A provider's contract is one call of at most `max_images_per_call` images
(providers/base.py); this module asks for `preq.n` in as many calls as the
provider and the isolate's memory allow (limits.py). Finished calls are kept (and
paid for) when a later one fails. Each call's images are stored as soon as it
ends and their bytes let go. A call that ends in a way the provider may still
bill is charged at its estimate (`POSSIBLY_BILLED`)."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
from dataclasses import replace
from typing import AsyncIterator

from .. import errors, limits
from ..log_lines import log_event
from ..models import Event
from ..providers.base import ProviderEvent, ProviderRequest, ProviderResult
from . import record
from .selection import Candidate
from .state import GenerationState

# Error code -> may the provider have billed the call that ended with it? Codes not
# listed were answered before any work (4xx, 5xx, connection refused): nothing billed.
POSSIBLY_BILLED: dict[str, bool] = {
    "provider_timeout": True,  # sent, no answer in time: the provider may finish and bill it
    "provider_bad_response": True,  # a 2xx we could not read is still a billed call
    "cancelled": True,  # the caller went away mid-call: the provider carries on
    "internal_error": True,  # our code failed after the request left
}


def error_code(exc: BaseException) -> str:
    if isinstance(exc, errors.ImageWorkerError):
        return exc.code
    return "cancelled" if isinstance(exc, (asyncio.CancelledError, GeneratorExit)) else "internal_error"


def per_call(candidate: Candidate) -> int:
    """Images one call of this candidate asks for."""
    preq = candidate.preq
    return limits.images_per_call(preq.size, candidate.provider.capabilities.max_images_per_call,
                                  preq.background == "transparent")


def call_count(candidate: Candidate) -> int:
    """Provider calls one attempt of this candidate makes."""
    return -(-candidate.preq.n // per_call(candidate))


async def run_calls(state: GenerationState, candidate: Candidate, deadline: float,
                    done: list[ProviderResult]) -> AsyncIterator[Event]:
    """`preq.n` images in `call_count` calls; each finished call's result (without its
    image bytes, already stored) is appended to `done`."""
    preq = candidate.preq
    size = per_call(candidate)
    left = preq.n
    while left > 0:
        sub = replace(preq, n=min(left, size))
        began = state.s.clock.monotonic()
        try:
            result: ProviderResult | None = None
            async for step in _call(state, candidate, sub, deadline):
                if step.kind == "partial_image" and step.image is not None:
                    yield state.event("partial_image", index=step.index, content_type=step.image.content_type,
                                      b64=base64.b64encode(step.image.data).decode())
                elif step.kind == "result":
                    result = step.result
            if result is None or not result.images:
                charged = result.cost_micros if result is not None else 0
                state.charge(charged)  # whatever it reported billing, even for no image
                raise errors.ProviderBadResponse(f"{candidate.name} returned no images", provider=candidate.name,
                                                 details={"charged_micros": charged} if charged else None)
        except errors.ImageWorkerError as exc:
            if not done:
                raise
            made = len(state.stored)
            done[-1].warnings.append(f"{made} of {preq.n} images made; {candidate.name} failed on the rest ({exc.code})")
            return
        state.charge(result.cost_micros)
        state.s.registry.durations.record(candidate.name, sub.model, state.ms_since(began))
        await record.store_images(state, candidate, result)
        done.append(replace(result, images=[]))
        step = result = None  # let this call's image bytes go before the next call
        if left > sub.n:
            gc.collect(1)  # they sit in cycles (asyncio's futures), which counts of objects, not bytes, trigger
        left -= sub.n


async def _call(state: GenerationState, candidate: Candidate, sub: ProviderRequest,
                deadline: float) -> AsyncIterator[ProviderEvent]:
    """One provider call under the request's deadline; charges its estimate when it ends
    in a way the provider may still bill (POSSIBLY_BILLED)."""
    s = state.s
    if deadline - s.clock.monotonic() <= 0:
        raise errors.ProviderTimeout("the request ran out of time", provider=candidate.name)  # nothing sent
    stream = candidate.provider.stream(sub)
    sent = False
    try:
        while True:
            left = deadline - s.clock.monotonic()
            sent = True
            try:
                step = await asyncio.wait_for(stream.__anext__(), timeout=max(left, 0.001))
            except StopAsyncIteration:
                break
            except asyncio.TimeoutError as exc:
                raise errors.ProviderTimeout(
                    f"{candidate.name} did not finish within {s.settings.request_timeout_s:g}s",
                    provider=candidate.name,
                ) from exc
            yield step
    except BaseException as exc:
        if sent and POSSIBLY_BILLED.get(error_code(exc), False):
            charge = candidate.provider.estimate(sub).cost_micros
            state.charge(charge)
            if isinstance(exc, errors.ImageWorkerError):
                exc.details["charged_micros"] = charge
            log_event(logging.WARNING, "charged_uncertain", request_id=state.request_id, provider=candidate.name,
                      code=error_code(exc), micros=charge)
        raise
    finally:
        await stream.aclose()  # closes the provider connection if we stopped early
