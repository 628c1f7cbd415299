"""The Worker's app served on a real socket (uvicorn in a thread), for clients that need one:
the official SDKs, schemathesis, streaming readers."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from pipeline.api.app import create_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(services):
    """The Worker's app under uvicorn on a free port, in a thread: (base URL, stop)."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return f"http://127.0.0.1:{port}", stop
