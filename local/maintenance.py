"""The local server's stand-in for the cron trigger and for Cloudflare's restarts.

On Cloudflare a cron runs `pipeline.maintenance.scheduled`; locally a timer runs
the same function. And since a local process holds every request and slot it
serves, a restart after a crash (`kill -9`) recovers them all at once: its
requests are abandoned (and charged what they may have cost), its slots freed."""

from __future__ import annotations

import asyncio
import logging

from pipeline import logs, maintenance
from pipeline.services import Services

log = logging.getLogger("image_worker")


async def recover(services: Services) -> dict:
    return await maintenance.recover_after_restart(services)


async def run_timer(services: Services, every_s: float) -> None:
    """`scheduled()` every `every_s` seconds until cancelled; a failed run is logged, not fatal."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await maintenance.scheduled(services, "local-timer")
        except Exception:  # the next run tries again
            log.exception(logs.line("maintenance_failed", trigger="local-timer"))
