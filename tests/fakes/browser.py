"""The local server in a background thread (the app local/server.py serves, on a fixed
clock) and Debian's chromium driven by Playwright, for the console's browser tests."""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Offline and quiet: no GPU, no QUIC, none of chromium's own background traffic.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """`local.server.serve` (recovery, the maintenance timer, uvicorn) on 127.0.0.1 in a thread."""

    def __init__(self, env: dict[str, str], data_dir: Path, clock: Any) -> None:
        from local.services import build_local_services
        from pipeline.api.app import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.services = build_local_services({"PUBLIC_BASE_URL": self.url, **env}, data_dir, clock=clock)
        self.app = create_app(self.services)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from local import server

        self._server = server.uvicorn_server(self.app, "127.0.0.1", self.port)
        asyncio.run(server.serve(self.services, self.app, "127.0.0.1", self.port, 3600, self._server))

    def start(self) -> "LocalServer":
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the local server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def wait_until(page: Any, expression: str, timeout_s: float = 10.0) -> Any:
    """Poll a JS expression until it is truthy. (Playwright's wait_for_function evaluates
    strings inside the page, which the console's CSP forbids, rightly.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        time.sleep(0.05)


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
