"""A local server with an admin token and keys, and one headless chromium, shared by
the console's browser tests (one start each: the browser tests must stay fast)."""

from __future__ import annotations

import os
from typing import Any, Iterator

import httpx
import pytest

from tests.clocks import clock_at
from tests.fakes.browser import ARTIFACTS, CHROMIUM, LocalServer, launch_chromium

ADMIN_TOKEN = "tok-console-admin"


def _need_browser() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"chromium is not at {CHROMIUM}: scripts/test installs it (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LocalServer]:
    env = {"API_TOKEN": ADMIN_TOKEN, "PROGRESS_INTERVAL_S": "0.1", "LOG_LEVEL": "INFO"}
    local = LocalServer(env, tmp_path_factory.mktemp("console-data"), clock_at()).start()
    yield local
    local.stop()


@pytest.fixture(scope="module")
def admin(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    yield page
    context.close()
    assert not errors, f"the page raised: {errors}"
