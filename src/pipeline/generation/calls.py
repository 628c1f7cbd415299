"""The provider calls of one attempt: the one place `n` is split.

A provider's contract is one call of at most `images_per_call(model)` images
(providers/base.py); this module asks for `preq.n` in as many calls as the
provider and the isolate's memory allow (limits.py), and runs them together
where the provider allows it (`parallel_calls`, from its catalog). Finished
calls are kept (and paid for) when a later one fails. The images of each call
(or group of calls run together) are stored as soon as they end and their bytes
let go. A call that ends in a way the provider may still bill is charged at the
usage it reported (also with a failure: the error's `charged_micros`), else at its
estimate (`POSSIBLY_BILLED`)."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
from dataclasses import replace
from typing import AsyncIterator, Sequence

from .. import errors, limits
from ..logs import event as log_event
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
    return limits.images_per_call(preq.size, candidate.provider.images_per_call(preq.model),
                                  preq.background == "transparent")


def at_once(candidate: Candidate) -> int:
    """Calls of this candidate run together: what the provider allows (its catalog's
    `parallel_calls`) and memory holds. A native stream's previews are per call, so
    such a request runs its calls one after another."""
    provider, preq = candidate.provider, candidate.preq
    if provider.streams_natively(preq):
        return 1
    return limits.calls_at_once(preq.size, per_call(candidate), provider.capabilities.parallel_calls,
                                preq.background == "transparent")


def peak_output_bytes(candidates: Sequence[Candidate]) -> int:
    """The most image bytes (worst case) one attempt of any of these candidates holds at
    once: `at_once` calls of `per_call` images, plus one preview for a native stream.
    What a generation takes from the isolate's budget before its first call."""
    def one(c: Candidate) -> int:
        preq = c.preq
        image = limits.worst_case_image_bytes(preq.size, preq.background == "transparent")
        previews = 1 if c.provider.streams_natively(preq) else 0
        return (at_once(c) * min(per_call(c), preq.n) + previews) * image
    return max((one(c) for c in candidates), default=0)


def call_count(candidate: Candidate) -> int:
    """Provider calls one attempt of this candidate makes."""
    return -(-candidate.preq.n // per_call(candidate))


def rounds(candidate: Candidate) -> int:
    """Calls one after another (each round runs `at_once` calls together): what an
    attempt takes, in calls' durations."""
    return -(-call_count(candidate) // at_once(candidate))


async def run_calls(state: GenerationState, candidate: Candidate, deadline: float,
                    done: list[ProviderResult]) -> AsyncIterator[Event]:
    """`preq.n` images in `call_count` calls, `at_once` at a time; each finished call's
    result (without its image bytes, already stored) is appended to `done`. When a call
    fails after others finished, their images are kept and the rest is not asked for."""
    preq = candidate.preq
    size, together = per_call(candidate), at_once(candidate)
    subs = [replace(preq, n=min(size, preq.n - start)) for start in range(0, preq.n, size)]
    for first in range(0, len(subs), together):
        group = subs[first:first + together]
        if len(group) == 1:
            outcomes: list[ProviderResult | BaseException] = []
            try:
                async for event in _streamed(state, candidate, group[0], deadline, outcomes):
                    yield event
            except errors.ImageWorkerError as exc:
                outcomes.append(exc)
        else:
            outcomes = list(await asyncio.gather(*(_collected(state, candidate, sub, deadline) for sub in group),
                                                 return_exceptions=True))
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        for result in outcomes:
            if isinstance(result, ProviderResult):
                await record.store_images(state, candidate, result)
                done.append(replace(result, images=[]))
        outcomes = result = None  # type: ignore[assignment]  # let these calls' image bytes go before the next
        if failed:
            crash = next((f for f in failed if not isinstance(f, errors.ImageWorkerError)), None)
            if crash is not None or not done:
                raise crash or failed[0]
            made = len(state.stored)
            done[-1].warnings.append(f"{made} of {preq.n} images made; {candidate.name} failed on the rest ({failed[0].code})")
            return
        if first + together < len(subs):
            gc.collect(1)  # they sit in cycles (asyncio's futures), which counts of objects, not bytes, trigger


async def _streamed(state: GenerationState, candidate: Candidate, sub: ProviderRequest, deadline: float,
                    out: list[ProviderResult | BaseException]) -> AsyncIterator[Event]:
    """One call, its previews passed on as `partial_image` events; its result appended to `out`."""
    began = state.s.clock.monotonic()
    result: ProviderResult | None = None
    async for step in _call(state, candidate, sub, deadline):
        if step.kind == "partial_image" and step.image is not None:
            yield state.event("partial_image", index=step.index, content_type=step.image.content_type,
                              b64=base64.b64encode(step.image.data).decode())
        elif step.kind == "result":
            result = step.result
    out.append(_paid(state, candidate, sub, result, began))


async def _collected(state: GenerationState, candidate: Candidate, sub: ProviderRequest,
                     deadline: float) -> ProviderResult:
    """One call run beside others: its result only (providers that run calls together do not stream)."""
    began = state.s.clock.monotonic()
    result: ProviderResult | None = None
    async for step in _call(state, candidate, sub, deadline):
        if step.kind == "result":
            result = step.result
    return _paid(state, candidate, sub, result, began)


def _paid(state: GenerationState, candidate: Candidate, sub: ProviderRequest, result: ProviderResult | None,
          began: float) -> ProviderResult:
    """A finished call charged at what it reported; one without images is a bad response."""
    if result is None or not result.images:
        charged = result.cost_micros if result is not None else 0
        state.charge(charged)  # whatever it reported billing, even for no image
        raise errors.ProviderBadResponse(f"{candidate.name} returned no images", provider=candidate.name,
                                         charged_micros=charged or None)
    state.charge(result.cost_micros)
    state.s.registry.durations.record(candidate.name, sub.model, state.ms_since(began))
    return result


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
            # The usage a provider reported with the failure (e.g. Gemini's usageMetadata on an
            # answer without an image) is what it billed; else the call's estimate.
            reported = exc.charged_micros if isinstance(exc, errors.ImageWorkerError) else None
            charge = reported if reported is not None and reported >= 0 else candidate.provider.estimate(sub).cost_micros
            state.charge(charge)
            if isinstance(exc, errors.ImageWorkerError):
                exc.charged_micros = charge
            log_event(logging.WARNING, "charged_uncertain", request_id=state.request_id, provider=candidate.name,
                      code=error_code(exc), micros=charge)
        raise
    finally:
        await stream.aclose()  # closes the provider connection if we stopped early
