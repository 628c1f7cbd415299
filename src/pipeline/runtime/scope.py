"""The current request: its env and ctx, and work kept alive past the response.

A JS object (Durable Object stub, binding wrapper, stream) belongs to the request
that created it: one kept per isolate fails with cross-request I/O. So nothing JS
is kept per isolate: each handler runs `within(env, ctx, ...)`, which puts that
request's env and ctx in a context variable, and every adapter looks its binding up
there on each use (`current()`)."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from pyodide.ffi import create_proxy

from .values import unwrap


@dataclass
class Request:
    """One handler's bindings: the raw JS env and ExecutionContext (None in a Durable Object call)."""

    env: Any
    ctx: Any
    _stub: Any = None

    def binding(self, name: str) -> Any:
        """The env binding called `name` (env.DB, env.IMAGES, ...)."""
        return getattr(self.env, name)

    def ledger_stub(self) -> Any:
        """The stub of the one global ledger object, made once per request."""
        if self._stub is None:
            namespace = self.env.LEDGER
            self._stub = namespace.get(namespace.idFromName("global"))
        return self._stub


_current: contextvars.ContextVar[Request] = contextvars.ContextVar("cloudflare_request")


def current() -> Request:
    """The request whose handler is running; a binding used outside one is a bug."""
    request = _current.get(None)
    if request is None:
        raise RuntimeError("a binding was used outside a request handler (wrap it in runtime.within)")
    return request


async def within(env: Any, ctx: Any, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run one handler's work with this request's env and ctx as the current bindings.

    The work runs in its own task, so its context (and every task it starts, which
    copies it) sees this request's bindings and no other request's."""

    async def run() -> Any:
        _current.set(Request(unwrap(env), unwrap(ctx) if ctx is not None else None))
        return await work()

    return await asyncio.ensure_future(run())


def wait_until(js_wait_until: Any, awaitable: Any) -> None:
    """Hand an awaitable to a JS `waitUntil` through an owned proxy, destroyed when it settles
    (a borrowed one dies when the call returns, before JS calls `.then`: nothing is waited for)."""
    future = asyncio.ensure_future(awaitable)
    proxy = create_proxy(future)
    future.add_done_callback(lambda _f: proxy.destroy())
    js_wait_until(proxy)


class Background:
    """`ctx.waitUntil` for the current request: the isolate stays up until the work ends,
    even after the response is sent or the client has gone away."""

    def keep_alive(self, task: asyncio.Future) -> None:
        ctx = current().ctx
        if ctx is not None:
            wait_until(ctx.waitUntil, task)
