"""Shared fixtures: the real app over real local ports (SQLite with the real
migrations, a folder for R2, the in-process ledger), fake providers on 127.0.0.1."""

from __future__ import annotations

import os
from typing import Any, AsyncIterator, Callable

import httpx
import pytest

from local.services import build_local_services
from pipeline.api.app import create_app
from pipeline.services import Services
from tests.clocks import ShiftedClock, clock_at
from tests.fakes.server import FakeServer

# The workerd layer (tests/workerd) starts the Worker in real workerd: scripts/test-workerd runs it.
collect_ignore = [] if os.environ.get("WORKERD_LAYER") else ["workerd"]


@pytest.fixture
def fake_server() -> Any:
    servers: list[FakeServer] = []

    def start() -> FakeServer:
        server = FakeServer().start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "today(day): the ISO date the `clock` fixture starts at (default tests/clocks.TODAY)")
    config.addinivalue_line("markers", "ledger_config(**settings): settings the `ledger` fixture (tests/ledger) puts")


@pytest.fixture
def clock(request: pytest.FixtureRequest) -> ShiftedClock:
    """The suite's clock: noon UTC of the fixed test date (tests/clocks.py), never the real date.
    A module whose examples name their days pins its own: `pytestmark = pytest.mark.today("2026-11-24")`."""
    marker = request.node.get_closest_marker("today")
    return clock_at(marker.args[0] if marker else None)


@pytest.fixture
def make_services(tmp_path, clock) -> Callable[..., Services]:
    counter = iter(range(1000))

    def make(env: dict[str, str] | None = None, **kwargs: Any) -> Services:
        base = {"RETRY_BASE_DELAY_S": "0.01", "RETRY_MAX_DELAY_S": "1"}
        kwargs.setdefault("clock", clock)
        return build_local_services({**base, **(env or {})}, tmp_path / f"data{next(counter)}", **kwargs)

    return make


@pytest.fixture
async def client_for() -> AsyncIterator[Callable[[Services], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def make(services: Services) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://worker.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
