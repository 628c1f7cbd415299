"""Secrets never leave in text: every error message and detail passes through `scrub`
(errors.py) before it reaches a client, a stored row, an SSE event or a log line.

A provider's error body is shown to the caller because it helps (a bad size, a quota),
but a provider may echo what it was sent, the Authorization header included. Two nets:
the exact secret values this isolate holds (registered once, when the services are
built), and the shapes of credentials whatever their value (provider keys, bearer
tokens, our own keys, PEM private keys), for a secret this isolate never registered."""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

MAX_TEXT = 2000  # what any one message or detail string keeps (a row's error_message holds this much)
_MASK = "[redacted]"
_SHAPES = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r"|\b(?:sk|rk|pk)-[A-Za-z0-9_\-]{8,}"  # OpenAI keys (sk-..., sk-proj-...)
    r"|\bAIza[0-9A-Za-z_\-]{20,}"  # Google API keys
    r"|\bya29\.[0-9A-Za-z_\-.]{10,}"  # Google OAuth access tokens (Vertex)
    r"|\biwk_[A-Za-z0-9_\-]{8,}"  # this Worker's own API keys
    r"|(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9_\-.~+/=]{8,}"
    r"|(?i:\b(?:x-goog-api-key|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]{6,}"
)
_known: set[str] = set()
_SHORTEST = 6  # a shorter "secret" would mask ordinary words


def remember(values: Mapping[str, str | None], secret_names: Iterable[str] = ()) -> None:
    """Register the secret values of one environment (every `*_API_KEY`, `*_SECRET`,
    `API_TOKEN`, and the `secret_names` provider instances declare). Isolate-wide on
    purpose: the scrub must hold for text made anywhere."""
    named = set(secret_names)
    for name, value in values.items():
        if name in named or name == "API_TOKEN" or name.endswith(("_API_KEY", "_SECRET")):
            if value and len(value) >= _SHORTEST:
                _known.add(value)


def scrub(text: str) -> str:
    """The text without any secret, cut to MAX_TEXT characters."""
    for secret in sorted(_known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _MASK)
    text = _SHAPES.sub(lambda m: _keep_label(m.group(0)), text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _keep_label(found: str) -> str:
    """`Bearer [redacted]`, `api_key=[redacted]`: the reader still sees what was removed."""
    label = re.match(r"(?i)(?:bearer|basic)\s+|(?:x-goog-api-key|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?", found)
    return (label.group(0) if label else "") + _MASK


def scrub_details(details: dict[str, Any]) -> dict[str, Any]:
    """Details with every string value scrubbed (one level and lists of strings: what errors carry)."""
    out: dict[str, Any] = {}
    for key, value in details.items():
        if isinstance(value, str):
            out[key] = scrub(value)
        elif isinstance(value, list):
            out[key] = [scrub(v) if isinstance(v, str) else v for v in value]
        else:
            out[key] = value
    return out
