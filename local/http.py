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


# httpcore's pool walks every connection it holds on each request and each response
# (`_assign_requests_to_connections`), so one pool's cost per request grows with concurrency.
# Requests take turns over a few small pools instead: each walks a fraction of the connections.
SHARDS = 8
PER_SHARD = httpx.Limits(max_connections=32, max_keepalive_connections=8)


class HttpxClient:
    """A few pooled AsyncClients, taken in turn; transport failures become the typed errors."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._clients = [client] if client else [httpx.AsyncClient(limits=PER_SHARD) for _ in range(SHARDS)]
        self._turn = 0

    @property
    def _client(self) -> httpx.AsyncClient:
        self._turn = (self._turn + 1) % len(self._clients)
        return self._clients[self._turn]

    def _build(self, request: HttpRequest) -> httpx.Request:
        return self._clients[0].build_request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.body,
            timeout=httpx.Timeout(request.timeout_s, connect=min(10.0, request.timeout_s)),
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await self._client.send(self._build(request), follow_redirects=request.follow_redirects)
        except httpx.TimeoutException as exc:
            raise errors.ProviderTimeout(f"no answer within {request.timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise errors.ProviderUnavailable(f"connection failed: {type(exc).__name__}") from exc
        return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

    @asynccontextmanager
    async def stream(self, request: HttpRequest) -> AsyncIterator[_Stream]:
        try:
            response = await self._client.send(self._build(request), stream=True,
                                               follow_redirects=request.follow_redirects)
        except httpx.TimeoutException as exc:
            raise errors.ProviderTimeout(f"no answer within {request.timeout_s:g}s") from exc
        except httpx.TransportError as exc:
            raise errors.ProviderUnavailable(f"connection failed: {type(exc).__name__}") from exc
        try:
            yield _Stream(response)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
