"""Estimated progress in real workerd: a Gemini call (no native streaming) that is
still running shows `progress` events on the caller's SSE stream, live, before the
provider answers and before `completed`."""

from __future__ import annotations

import threading

import httpx

from pipeline.providers.placeholder import render_png
from tests.fakes.fixtures import load
from tests.fakes.server import Reply
from tests.workerd.conftest import AUTH
from tests.fakes.sse import sse_events

PNG = render_png(b"workerd progress", 32, 32)


def test_a_slow_gemini_call_streams_estimated_progress_before_completed(worker, fakes):
    release = threading.Event()

    def answer(_req):
        assert release.wait(30), "the client never saw progress while Gemini was working"
        return Reply(200, load("gemini", "success", IMAGE=PNG))

    fakes.gemini.fallback = answer
    lines, ticks = [], 0
    with httpx.Client(base_url=worker.url, headers=AUTH, timeout=60) as client, client.stream(
        "POST", "/v1/generations?stream=true", json={"prompt": "a patient heron", "provider": "gemini"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if line == "event: progress":
                ticks += 1
                if ticks == 2:
                    release.set()  # Gemini answers only once two estimates reached the client
    release.set()
    events = sse_events(lines)
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["accepted", "attempt", "progress"] and kinds[-2:] == ["image", "completed"]
    progress = [data for kind, data in events if kind == "progress"]
    assert len(progress) >= 2
    assert all(p["estimated"] is True and p["provider"] == "gemini" and p["attempt"] == 1 for p in progress)
    assert all(p["basis"] == "default" or p["basis"].startswith("median of the last ") for p in progress)
    assert progress[1]["elapsed_ms"] > progress[0]["elapsed_ms"] >= 500  # ticks every PROGRESS_INTERVAL_S (1 s)
    assert progress[1]["percent"] >= progress[0]["percent"] and all(p["percent"] <= 95 for p in progress)
    assert events[-1][1]["result"]["status"] == "succeeded" and events[-1][1]["result"]["provider"] == "gemini"
