"""HttpClient over httpx, for the local server, tests and benchmarks."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx

from pipeline import errors
from pipeline.ports import HttpRequest, HttpResponse


class _Stream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except httpx.TimeoutException as exc:
            raise errors.ProviderTimeout("provider stream timed out") from exc
        except httpx.TransportError as exc:
            raise errors.ProviderUnavailable(f"provider stream broke: {type(exc).__name__}") from exc

    async def aread(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_bytes()])


class HttpxClient:
    """One pooled AsyncClient; transport failures become the typed errors."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    def _build(self, request: HttpRequest) -> httpx.Request:
        return self._client.build_request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.body,
            timeout=httpx.Timeout(request.timeout_s, connect=min(10.0, request.timeout_s)),
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await self._client.send(self._build(request))
        except httpx.TimeoutException as exc:
            raise errors.ProviderTimeout(f"no answer within {request.timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise errors.ProviderUnavailable(f"connection failed: {type(exc).__name__}") from exc
        return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[_Stream]:
        try:
            response = await self._client.send(self._build(request), stream=True)
        except httpx.TimeoutException as exc:
            raise errors.ProviderTimeout(f"no answer within {request.timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise errors.ProviderUnavailable(f"connection failed: {type(exc).__name__}") from exc
        try:
            yield _Stream(response)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()
