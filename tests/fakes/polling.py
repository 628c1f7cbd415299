"""Waiting for work that runs elsewhere (the queue consumer): poll a view until it is done."""

from __future__ import annotations

import time


def until(http, path: str, done, timeout_s: float = 60) -> dict:
    """GET `path` until `done(view)`; fail with the last view after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        view = http.get(path).json()
        if done(view):
            return view
        assert time.monotonic() < deadline, f"{path} never finished: {view}"
        time.sleep(0.3)
