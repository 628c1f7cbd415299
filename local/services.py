"""Services for CPython: SQLite file as D1, a folder as R2, the ledger in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from pipeline.clock import SystemClock
from pipeline.queued import consumer
from pipeline.ports import AiBinding, Clock, HttpClient, ImageTransformer
from pipeline.services import Services, build_services

from .db import SqliteDatabase
from .http import HttpxClient
from .images import PillowTransformer
from .ledger import local_ledger
from .queue import InProcessQueue
from .objects import FolderObjectStore
from .signer import CryptographySigner


def build_local_services(
    env: Mapping[str, str],
    data_dir: str | Path,
    *,
    http: HttpClient | None = None,
    clock: Clock | None = None,
    ai: AiBinding | None = None,
    in_memory: bool = False,
    queue: InProcessQueue | None = None,
    images: ImageTransformer | None = None,
) -> Services:
    """Everything under `data_dir` (`local.db`, `ledger.db`, `r2/`); migrations applied."""
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(":memory:" if in_memory else data / "local.db")
    db.apply_migrations()
    clock = clock or SystemClock()
    ledger = local_ledger(":memory:" if in_memory else str(data / "ledger.db"), clock)
    queue = queue or InProcessQueue(clock=clock)  # its retry delays on the services' clock
    services = build_services(
        env, db=db, objects=FolderObjectStore(data / "r2"), ledger=ledger,
        http=http or HttpxClient(), clock=clock, ai=ai, signer=CryptographySigner(), queue=queue,
        images=images or PillowTransformer(),
    )
    # The queue consumer runs in-process, through the very function the Worker's queue handler calls.
    queue.bind(lambda messages: consumer.consume(services, messages))
    return services
