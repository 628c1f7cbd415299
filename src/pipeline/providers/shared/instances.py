"""Several instances of one provider kind (e.g. two OpenAI projects, or OpenAI beside
an OpenAI-compatible endpoint), declared in the `PROVIDER_INSTANCES` setting:

    [{"name": "openai-eu", "kind": "openai", "key_secret": "OPENAI_EU_API_KEY",
      "base_url": "https://eu.example.com", "priority": 5, "tier": "quality",
      "default_model": "gpt-image-2.6-sunburst", "timeout_s": 120}]

Each instance gets the settings its kind's adapter reads (its own key from the
named secret, base URL, timeout, tier), so the adapters need no change. Health,
concurrency limits (ledger, per provider name) and fallback work per instance."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

# What each kind's adapter reads: the key setting, the base-URL setting, the timeout setting.
KIND_SETTINGS: dict[str, tuple[str, str, str]] = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_TIMEOUT_S"),
    "gemini": ("GEMINI_API_KEY", "GEMINI_BASE_URL", "GEMINI_TIMEOUT_S"),
    "imagen": ("VERTEX_SERVICE_ACCOUNT_JSON", "VERTEX_BASE_URL", "VERTEX_TIMEOUT_S"),
    "gemini-vertex": ("VERTEX_SERVICE_ACCOUNT_JSON", "VERTEX_BASE_URL", "VERTEX_TIMEOUT_S"),
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_SECRET = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


@dataclass(frozen=True)
class Instance:
    name: str
    kind: str
    priority: int | None
    settings: dict[str, str]


def _declared(env: Mapping[str, str]) -> list[dict[str, Any]]:
    raw = env.get("PROVIDER_INSTANCES")
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ValueError("PROVIDER_INSTANCES must be a JSON list of objects") from exc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError("PROVIDER_INSTANCES must be a JSON list of objects")
    return items


def secret_names(env: Mapping[str, str]) -> list[str]:
    """The secrets the declared instances name (copied out of the environment like known keys)."""
    return [str(i["key_secret"]) for i in _declared(env) if _SECRET.match(str(i.get("key_secret", "")))]


def parse(settings: Mapping[str, str]) -> list[Instance]:
    out = []
    for item in _declared(settings):
        name, kind = str(item.get("name", "")), str(item.get("kind", ""))
        if not _NAME.match(name) or kind not in KIND_SETTINGS:
            raise ValueError(f"PROVIDER_INSTANCES: bad instance {name!r} of kind {kind!r} (kinds: {', '.join(KIND_SETTINGS)})")
        key_name, url_name, timeout_name = KIND_SETTINGS[kind]
        own = {k: v for k, v in settings.items() if k not in (key_name, url_name, timeout_name, "DEFAULT_MODEL", "MODEL_TIER")}
        secret = str(item.get("key_secret", ""))
        if settings.get(secret):
            own[key_name] = settings[secret]
        for field, target in (("base_url", url_name), ("timeout_s", timeout_name), ("default_model", "DEFAULT_MODEL"),
                              ("tier", "MODEL_TIER")):
            if item.get(field) not in (None, ""):
                own[target] = str(item[field])
        if kind == "gemini-vertex":
            own["VERTEX_GEMINI"] = "true"
        priority = item.get("priority")
        out.append(Instance(name, kind, int(priority) if priority is not None else None, own))
    return out
