"""Provider fixtures: a provider built directly against its fake server on 127.0.0.1."""

from __future__ import annotations

import pytest

from local.http import HttpxClient
from pipeline.providers.base import ProviderContext
from pipeline.providers.openai import OpenAIProvider
from tests.clocks import clock_at
from tests.fakes.openai import KEY


@pytest.fixture
def openai(fake_server):
    """(the fake Images API, an OpenAIProvider pointed at it)."""
    server = fake_server()
    provider = OpenAIProvider(ProviderContext(HttpxClient(), clock_at(), {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.url}))
    return server, provider
