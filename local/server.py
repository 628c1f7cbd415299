"""Serve the Worker's app under CPython: `python -m local.server` (see README).

Offline by default: with no provider keys in the environment only the free
`placeholder` provider is configured. Keys and settings are read from the
environment and from `.dev.vars` (the file wrangler uses), never printed."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import uvicorn

from pipeline import logs
from pipeline.api.app import create_app

from . import maintenance
from .services import build_local_services

ROOT = Path(__file__).resolve().parent.parent


def read_env(dev_vars: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    if dev_vars.exists():
        for line in dev_vars.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not key.strip().startswith("#"):
                env[key.strip()] = value.strip().strip('"')
    env.update(os.environ)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the image worker locally")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8787")))
    parser.add_argument("--data", default=str(ROOT / ".data"), help="folder for the SQLite files and images")
    parser.add_argument("--log-format", choices=sorted(logs.FORMATS), default=os.environ.get("LOG_FORMAT", "text"),
                        help="log lines for a person (text, the default) or as the Worker writes them (json)")
    args = parser.parse_args()

    env = read_env(ROOT / ".dev.vars")
    env.setdefault("PUBLIC_BASE_URL", f"http://{args.host}:{args.port}")
    services = build_local_services(env, args.data)
    # One line per request (INFO), batch progress and failing providers, at LOG_LEVEL.
    logs.configure(services.settings.access.log_level, args.log_format)
    app = create_app(services)
    names = ", ".join(services.registry.names())
    print(f"Image worker on http://{args.host}:{args.port}  (console: /console, docs: /docs, providers: {names}, "
          f"data: {args.data})", flush=True)
    if services.settings.api_token is None:
        print("No API_TOKEN set: the API is open. Set API_TOKEN to require 'Authorization: Bearer <token>'.", flush=True)
    every_s = float(env.get("LOCAL_MAINTENANCE_S") or 30)
    asyncio.run(serve(services, app, args.host, args.port, every_s))


def uvicorn_server(app, host: str, port: int) -> uvicorn.Server:
    # uvicorn's own access log stays off: the app writes one line per request (pipeline.logs).
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))


async def serve(services, app, host: str, port: int, every_s: float, server: uvicorn.Server | None = None) -> None:
    """Recover what a crashed predecessor left, then serve with the maintenance timer
    (until `server.should_exit`, when the caller built the server)."""
    recovered = await maintenance.recover(services)
    if recovered.get("stale_requests") or recovered.get("recovered_slots"):
        print(f"Recovered after restart: {recovered}", flush=True)
    timer = asyncio.create_task(maintenance.run_timer(services, every_s))
    try:
        await (server or uvicorn_server(app, host, port)).serve()
    finally:
        timer.cancel()


if __name__ == "__main__":
    main()
