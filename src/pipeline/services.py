"""The service container: the ports plus what is built from them once per
isolate (settings, provider registry). Built by `runtime/` on Cloudflare and
by `local/` under CPython; the routes and the pipeline only ever see this."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .ports import (AiBinding, Background, Clock, Database, HttpClient, ImageTransformer, InProcessBackground, Ledger,
                    ObjectStore, Queue, Signer)
from .providers.shared import instances
from .providers.base import ProviderContext
from .providers.registry import ProviderRegistry
from . import redact
from .settings import KNOWN_KEYS, Settings


@dataclass
class Services:
    settings: Settings
    db: Database
    objects: ObjectStore
    ledger: Ledger
    http: HttpClient
    clock: Clock
    registry: ProviderRegistry
    ai: AiBinding | None = None
    background: Background = field(default_factory=InProcessBackground)
    extras: dict[str, object] = field(default_factory=dict)
    queue: Queue | None = None  # the JOBS queue: batches and async jobs (None: not configured)
    images: ImageTransformer | None = None  # delivery variants (None: originals only)


def build_services(
    env: Mapping[str, str],
    *,
    db: Database,
    objects: ObjectStore,
    ledger: Ledger,
    http: HttpClient,
    clock: Clock,
    ai: AiBinding | None = None,
    queue: Queue | None = None,
    background: Background | None = None,
    signer: Signer | None = None,
    images: ImageTransformer | None = None,
) -> Services:
    """Read settings from the environment (vars + secrets) and build the registry once."""
    keys = (*KNOWN_KEYS, *instances.secret_names(env))  # provider instances name their own key secrets
    known = {k: str(env[k]) for k in keys if env.get(k) not in (None, "")}
    settings = Settings.from_env(known)
    redact.remember(known, instances.secret_names(env))  # error text never carries these secrets (errors.py scrubs every message)
    ctx = ProviderContext(http=http, clock=clock, settings=known, ai=ai, signer=signer)
    return Services(settings, db, objects, ledger, http, clock, ProviderRegistry(ctx), ai,
                    background or InProcessBackground(), queue=queue, images=images)
