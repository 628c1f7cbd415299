"""The Services for this isolate on Cloudflare: settings from env, an adapter per binding."""

from __future__ import annotations

from typing import Any

from ..clock import SystemClock
from ..settings import KNOWN_KEYS
from . import fault_hook
from .bindings.ai import WorkersAiBinding
from .bindings.d1 import D1Database
from .bindings.images import IMAGES_BINDING, ImagesBindingTransformer
from .bindings.queue import JsQueue
from .bindings.r2 import R2ObjectStore
from .crypto import WebCryptoSigner
from .durable_object import DurableLedger
from .fetch import FetchHttpClient
from .scope import Background
from .values import is_null, unwrap


def read_env(env: Any) -> dict[str, str]:
    """The known settings (vars and secrets) as strings; nothing else is copied."""
    raw = unwrap(env)
    values = {key: getattr(raw, key, None) for key in KNOWN_KEYS}
    return {key: value for key, value in values.items() if isinstance(value, str) and value != ""}


def build_services(env: Any) -> Any:
    """The Services for this isolate. Settings are read once; the adapters hold only
    binding names and resolve them in the current request on each use."""
    from ..services import build_services as build

    settings = read_env(env)
    # Fail closed in every wrangler environment (named ones do not inherit [vars]).
    settings.setdefault("REQUIRE_API_TOKEN", "true")
    bound = unwrap(env)
    ports = {
        "db": D1Database("DB"),
        "objects": R2ObjectStore("IMAGES"),
        "ledger": DurableLedger(),
        "http": FetchHttpClient(),
        "queue": JsQueue("JOBS") if not is_null(getattr(bound, "JOBS", None)) else None,
        "images": ImagesBindingTransformer(IMAGES_BINDING) if not is_null(getattr(bound, IMAGES_BINDING, None)) else None,
    }
    if fault_hook.enabled(bound):  # tests only: off unless their .dev.vars turns it on
        ports = fault_hook.wrapped(ports)
    return build(
        settings,
        **ports,
        clock=SystemClock(),
        ai=WorkersAiBinding("AI") if not is_null(getattr(bound, "AI", None)) else None,
        background=Background(),
        signer=WebCryptoSigner(),
    )
