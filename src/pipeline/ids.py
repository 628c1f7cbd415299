"""Sortable identifiers: a prefix, then 48 bits of milliseconds and 80 random
bits in Crockford base32 (ULID layout), so ids sort by creation time."""

from __future__ import annotations

import secrets
import time
from datetime import datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


_last = [0, 0]  # (ms, random part) of the previous id in this isolate
_BACKSTEP_MS = 10_000


def new_id(prefix: str, at: datetime | None = None, *, now_ms: int | None = None) -> str:
    """`gen_01JD…`: time-ordered, then random (drawn at call time, never at import).
    `at` is the injected clock's now, so an id sorts with the row's own timestamps
    (listing by date is a range of ids); without it, the system time.
    Within one isolate ids strictly increase, even within one millisecond."""
    if now_ms is not None:
        ms = now_ms
    else:
        ms = int((at.timestamp() if at is not None else time.time()) * 1000)
    rand = secrets.randbits(80)
    # Within one clock, ids strictly increase: a repeat millisecond (or a small step back, a
    # clock being corrected) continues from the previous id. A clock far from the previous one
    # (tests run several clocks at different dates in one process) starts its own sequence.
    if _last[0] - _BACKSTEP_MS <= ms <= _last[0]:
        # Same millisecond: step up by a random amount, so the next id stays unguessable
        # (image URLs are public by id); past the top of the range, borrow the next ms.
        ms, rand = _last[0], _last[1] + 1 + secrets.randbits(64)
        if rand >= 1 << 80:
            ms, rand = ms + 1, secrets.randbits(79)
    _last[0], _last[1] = ms, rand
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"


def is_id(value: str, prefix: str) -> bool:
    head, _, body = value.partition("_")
    return head == prefix and len(body) == 26 and all(c in _ALPHABET for c in body)
