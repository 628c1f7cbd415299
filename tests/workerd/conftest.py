"""The workerd layer: the Worker as deployed, in real workerd (Pyodide 314), over
real HTTP, with real local D1, R2, Durable Objects and crons, and fake OpenAI and
Gemini servers on 127.0.0.1. Run by `scripts/test-workerd` (and `scripts/test`
when the offline workerd tool is present).

Two workerd sessions serve the whole layer (starting one takes seconds):
- `worker`: the image Worker alone, called over HTTP as the frontend calls it;
- `rpc`: a JS caller Worker (tests/workerd/caller) in front of it, which calls its
  RPC methods over a service binding as the app does (`POST /rpc/<method>`).

After every test, the Worker's log is searched for the faults only the real runtime
shows (harness.RUNTIME_DEFECTS); any of them fails the test that caused it."""

from __future__ import annotations

import time
from typing import Any, Iterator

import httpx
import pytest

from pipeline.providers.placeholder import render_png
from tests.fakes.server import FakeServer, Reply
from tests.fakes.vertex import service_account, token_endpoint
from tests.workerd import harness

TOKEN = "workerd-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PNG = render_png(b"workerd", 64, 64)  # what the fake providers answer with
WEBHOOK_SECRET = "whsec-workerd-test"
QUIET_BREAKERS = {"breaker_min_calls": 10_000}


def _settings(fakes: "Fakes") -> dict[str, str]:
    openai, gemini = fakes.openai, fakes.gemini
    return {
        "API_TOKEN": TOKEN, "REQUIRE_API_TOKEN": "true", "PLACEHOLDER_ENABLED": "true",
        "OPENAI_API_KEY": "sk-workerd-test", "OPENAI_BASE_URL": openai.url,
        "GEMINI_API_KEY": "gm-workerd-test", "GEMINI_BASE_URL": gemini.url,
        "AUTO_PROVIDER_ORDER": "gemini,openai",
        "RETRY_BASE_DELAY_S": "0.05", "RETRY_MAX_DELAY_S": "0.5", "SLOT_WAIT_S": "20",
        "CORS_ORIGINS": "https://app.example.com",
        # Imagen on Vertex: a service-account JWT signed with WebCrypto, checked by the fake token endpoint
        "VERTEX_SERVICE_ACCOUNT_JSON": fakes.vertex_account, "VERTEX_LOCATION": "europe-west4",
        "VERTEX_BASE_URL": fakes.vertex.url,
        "WEBHOOK_SECRET": WEBHOOK_SECRET, "BATCH_CONCURRENCY": "2",
        "WEBHOOK_ALLOW_LOCAL": "true",  # the webhook receiver is a fake on 127.0.0.1 (test_webhook_targets: refused without)
        "ECONOMY_POLL_DELAYS_S": "1",  # the economy lane polls its fake batch APIs every second
    }


class Fakes:
    """The fake providers every session talks to; each test scripts the routes it needs."""

    def __init__(self) -> None:
        self.openai = FakeServer().start()
        self.gemini = FakeServer().start()
        self.vertex = FakeServer().start()  # Google's token endpoint and Vertex AI in one
        self.vertex_account, self._vertex_key = service_account(self.vertex)
        self.vertex_tokens: list[dict] = []

    def reset(self) -> None:
        for server in (self.openai, self.gemini, self.vertex):
            server.routes.clear()
            server.received.clear()
            server.fallback = lambda req: Reply(500, {"error": {"message": f"unscripted {req.path}"}})
        self.vertex_tokens = token_endpoint(self.vertex, self._vertex_key)

    def stop(self) -> None:
        for server in (self.openai, self.gemini, self.vertex):
            server.stop()


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    servers = Fakes()
    yield servers
    servers.stop()


@pytest.fixture(scope="session")
def _sessions(request: pytest.FixtureRequest, fakes: Fakes) -> Iterator[dict[str, harness.Workerd]]:
    if harness.tool_dir() is None:
        pytest.fail("the offline workerd tool is missing (WORKERD_TOOL or ../shared/workerd)")
    settings = _settings(fakes)
    sessions = {"worker": harness.start(settings),
                "rpc": harness.start(settings, configs=[harness.CALLER_CONFIG, "wrangler.toml"])}
    if any("faulty" in item.fixturenames for item in request.session.items):
        # A third Worker with the test-only fault hook on (runtime/fault_hook.py); the other two
        # run without it, as production does.
        # Its requests go stale a minute after their deadline (REQUEST_TIMEOUT_S + 60 s), so
        # the cron's sweep can be shown finishing one within a test.
        sessions["faults"] = harness.start({**settings, harness.FAULT_HOOK_SETTING: "on", "REQUEST_TIMEOUT_S": "8",
                                            "STALE_REQUEST_S": "1"})
    if any("probed" in item.fixturenames for item in request.session.items):
        # A Worker with the test-only memory probe on (runtime/memory_probe.py), alone with the
        # largest requests, so its WebAssembly memory is theirs; the others run without it.
        sessions["memory"] = harness.start({**settings, harness.MEMORY_PROBE_SETTING: "on", "AUTO_PROVIDER_ORDER": "openai",
                                            "SLOT_WAIT_S": "60"})
    try:
        for name, session in sessions.items():
            session.wait_ready()
            _first_request(session)
            _quiet_breakers(name, session)
        yield sessions
    finally:
        for session in sessions.values():
            session.stop()


def _first_request(session: harness.Workerd) -> None:
    """The first request loads Pyodide and the app: allow it a minute."""
    started = time.monotonic()
    httpx.get(f"{session.url}/v1/health", timeout=120)
    session.first_request_s = time.monotonic() - started  # type: ignore[attr-defined]  # a timing kept on the session for the summary


def _quiet_breakers(name: str, session: harness.Workerd) -> None:
    """The shared sessions serve many tests that script a provider failing: their breakers
    (docs/providers.md) stay closed, so no test sees another's outage. test_breaker.py runs
    its own session with the defaults."""
    if name == "rpc":  # the caller Worker in front: over the service binding
        answer = httpx.post(f"{session.url}/rpc/put_budget", json=[QUIET_BREAKERS], timeout=60).json()
        assert answer["returned"]["ok"], answer
    else:
        httpx.put(f"{session.url}/v1/budget", json=QUIET_BREAKERS, headers=AUTH, timeout=60).raise_for_status()


@pytest.fixture
def worker(_sessions: dict[str, harness.Workerd], fakes: Fakes) -> Iterator[harness.Workerd]:
    fakes.reset()
    yield _sessions["worker"]


@pytest.fixture
def rpc(_sessions: dict[str, harness.Workerd], fakes: Fakes) -> Iterator["RpcCaller"]:
    fakes.reset()
    yield RpcCaller(_sessions["rpc"])


@pytest.fixture
def faulty(_sessions: dict[str, harness.Workerd], fakes: Fakes) -> Iterator[harness.Workerd]:
    """The Worker with the fault hook on; its plan is cleared before and healed after each test."""
    fakes.reset()
    session = _sessions["faults"]
    httpx.put(f"{session.url}{harness.FAULT_HOOK_PATH}", json={"faults": []}, timeout=30).raise_for_status()
    try:
        yield session
    finally:
        httpx.delete(f"{session.url}{harness.FAULT_HOOK_PATH}", timeout=30)


@pytest.fixture
def probed(_sessions: dict[str, harness.Workerd], fakes: Fakes) -> Iterator[harness.Workerd]:
    """The Worker with the memory probe on (`GET /__test/memory`), budgets out of the way."""
    fakes.reset()
    session = _sessions["memory"]
    harness.open_budget(session.url, AUTH)
    yield session


@pytest.fixture
def http(worker: harness.Workerd) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=worker.url, headers=AUTH, timeout=60) as client:
        yield client


class RpcCaller:
    """Calls the image Worker's RPC methods through the JS caller's service binding."""

    def __init__(self, session: harness.Workerd) -> None:
        self.session = session

    def __call__(self, method: str, *args: Any) -> Any:
        response = httpx.post(f"{self.session.url}/rpc/{method}", json=list(args), timeout=60)
        body = response.json()
        assert response.status_code == 200, body.get("thrown")
        return body["returned"]


@pytest.fixture(autouse=True)
def _no_runtime_defects(request: pytest.FixtureRequest, _sessions: dict[str, harness.Workerd]) -> Iterator[None]:
    for session in _sessions.values():
        session.new_log()
    yield
    for name, session in _sessions.items():
        log = session.new_log()
        found = [d for d in harness.RUNTIME_DEFECTS if d in log]
        assert not found, f"runtime defects in the {name} session's log: {found}\n{log[-3000:]}"
