"""The HttpClient port (ports.py) over the runtime's fetch: what every provider call goes through.

A JS failure becomes a typed provider error (timeout or unavailable), so fallback
treats it like any other; bodies stream through a ReadableStream reader."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import js
from pyodide.ffi import JsException, to_js

from .. import errors
from ..ports import HttpRequest, HttpResponse
from .values import as_bytes, is_null, js_value


def _fetch_error(exc: Exception, timeout_s: float) -> errors.ImageWorkerError:
    name = str(getattr(exc, "name", "") or type(exc).__name__)
    if "Timeout" in name or "Abort" in name:
        return errors.ProviderTimeout(f"no answer within {timeout_s:g}s")
    return errors.ProviderUnavailable(f"connection failed: {name}")


def _init(request: HttpRequest) -> Any:
    init: dict[str, Any] = {"method": request.method, "headers": js_value(dict(request.headers)),
                            "signal": js.AbortSignal.timeout(int(request.timeout_s * 1000))}
    if request.body is not None:
        init["body"] = to_js(request.body)
    if not request.follow_redirects:
        init["redirect"] = "manual"
    return to_js(init, dict_converter=js.Object.fromEntries)


def _headers(response: Any) -> dict[str, str]:
    return {str(pair[0]).lower(): str(pair[1]) for pair in response.headers.entries()}


class FetchStream:
    """A streaming response: status and headers now, the body chunk by chunk."""

    def __init__(self, response: Any, timeout_s: float) -> None:
        self._response = response
        self._timeout_s = timeout_s
        self.status = int(response.status)
        self.headers = _headers(response)

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive."""
        if is_null(self._response.body):
            return
        reader = self._response.body.getReader()
        try:
            while True:
                chunk = await reader.read()
                if chunk.done:
                    return
                yield as_bytes(chunk.value)
        except JsException as exc:
            raise _fetch_error(exc, self._timeout_s) from None
        finally:
            reader.releaseLock()

    async def aread(self) -> bytes:
        """The rest of the body."""
        return b"".join([chunk async for chunk in self.aiter_bytes()])


class FetchHttpClient:
    """HttpClient over the runtime's fetch; bodies stream through a ReadableStream reader."""

    async def send(self, request: HttpRequest) -> HttpResponse:
        """One request, the whole body read."""
        try:
            response = await js.fetch(request.url, _init(request))
            body = as_bytes(await response.arrayBuffer())
        except JsException as exc:
            raise _fetch_error(exc, request.timeout_s) from None
        return HttpResponse(int(response.status), _headers(response), body)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[FetchStream]:
        """One request whose body is read as it arrives; an unread body is cancelled on exit."""
        try:
            response = await js.fetch(request.url, _init(request))
        except JsException as exc:
            raise _fetch_error(exc, request.timeout_s) from None
        stream = FetchStream(response, request.timeout_s)
        try:
            yield stream
        finally:
            if not is_null(response.body) and not response.bodyUsed:
                try:
                    await response.body.cancel()
                except JsException:
                    pass
