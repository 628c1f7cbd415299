"""One generation streamed to a caller who may leave: shared by the SSE routes
(`POST /v1/generations?stream=true` and the OpenAI-compatible streams).

The generation runs in its own task and reports through a queue, so a caller that
disconnects does not cancel it (the provider may already be billing): it finishes,
is stored and charged, and `GET /v1/generations/{id}` has the result. On Workers
the task is also handed to `ctx.waitUntil` (Services.background)."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from .. import errors
from ..generation.generation import Generation
from ..models import Event
from .sse import KEEPALIVE_S

_DETACHED: set[asyncio.Future] = set()  # generations whose caller went away, still finishing


async def detached_events(generation: Generation) -> AsyncIterator[Event | errors.ImageWorkerError | None]:
    """The generation's events; a typed error (last) if it failed; None when it has been
    silent for KEEPALIVE_S. Use under `contextlib.aclosing`: closing it early waits,
    shielded, for the generation to be stored, which keeps the request alive."""
    queue: asyncio.Queue = asyncio.Queue()

    async def run() -> None:
        try:
            async for event in generation.events():
                queue.put_nowait(event)
        except errors.ImageWorkerError as exc:
            queue.put_nowait(exc)
        except Exception as exc:  # noqa: BLE001 - reported to the caller as an internal error
            queue.put_nowait(errors.ImageWorkerError(f"internal error ({type(exc).__name__})"))
        finally:
            queue.put_nowait(StopAsyncIteration)

    task = asyncio.ensure_future(run())
    _DETACHED.add(task)
    task.add_done_callback(_DETACHED.discard)
    generation.s.background.keep_alive(task)
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
            except asyncio.TimeoutError:
                yield None
                continue
            if item is StopAsyncIteration:
                return
            yield item
            if isinstance(item, errors.ImageWorkerError):
                return
    finally:
        # Closed early (the caller left): stay until the generation is stored, so the
        # runtime keeps this request alive. If cancelled instead, the task carries on.
        if not task.done():
            await asyncio.shield(task)
