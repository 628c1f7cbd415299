"""The official SDKs (google-genai, openai) pointed at a fake server on 127.0.0.1, to
record what they send for an intent and to parse what the fakes answer: the reference
the Worker's adapters are compared with (tests/providers/)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fakes.server import FakeServer, Received

VERTEX_TOKEN = "ya29.sdk-test-token"


def genai_client(server: FakeServer, *, vertex: bool = False, project: str = "proj-1", location: str = "europe-west4") -> Any:
    """A google-genai client sending to `server`: the Gemini API (API key) or Vertex AI
    (a fixed bearer token; api_version v1, as the Worker uses)."""
    from google import genai
    from google.genai import types

    if not vertex:
        return genai.Client(api_key="AIza-sdk-test", http_options=types.HttpOptions(base_url=server.url))
    from google.oauth2.credentials import Credentials

    return genai.Client(vertexai=True, project=project, location=location, credentials=Credentials(token=VERTEX_TOKEN),
                        http_options=types.HttpOptions(base_url=server.url, api_version="v1"))


def openai_client(server_url: str, api_key: str = "sk-sdk-test", **kwargs: Any) -> Any:
    """A synchronous openai client for `server_url` (a fake, or the Worker under uvicorn)."""
    import openai

    return openai.OpenAI(base_url=f"{server_url}/v1", api_key=api_key, max_retries=0, **kwargs)


def openai_asgi_client(app: Any, api_key: str) -> Any:
    """An async openai client speaking to the Worker's ASGI app in process."""
    import openai

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker.test")
    return openai.AsyncOpenAI(base_url="http://worker.test/v1", api_key=api_key, max_retries=0, http_client=http)


def last(server: FakeServer, method: str = "POST") -> Received:
    """The last request `server` received with `method`."""
    return [r for r in server.received if r.method == method][-1]
