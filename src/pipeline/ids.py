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


# The last id of each recent 10-second window of clock time, in this isolate: each clock
# (tests run several, days apart, in one process) continues its own sequence.
_WINDOW_MS = 10_000
_recent: dict[int, tuple[int, int]] = {}  # window -> (ms, random part)
_KEEP_WINDOWS = 64


def new_id(prefix: str, at: datetime | None = None, *, now_ms: int | None = None) -> str:
    """`gen_01JD…`: time-ordered, then random (drawn at call time, never at import).
    `at` is the injected clock's now, so an id sorts with the row's own timestamps
    (listing by date is a range of ids); without it, the system time.
    Within one isolate ids strictly increase, even within one millisecond and across a
    clock stepped back by up to 10 s."""
    if now_ms is not None:
        ms = now_ms
    else:
        ms = int((at.timestamp() if at is not None else time.time()) * 1000)
    rand = secrets.randbits(80)
    window = ms // _WINDOW_MS
    last = max((_recent[w] for w in (window, window + 1) if w in _recent), default=None)
    if last is not None and ms <= last[0]:
        # Same millisecond (or a step back): step up by a random amount, so the next id stays
        # unguessable (image URLs are public by id); past the top of the range, borrow the next ms.
        ms, rand = last[0], last[1] + 1 + secrets.randbits(64)
        if rand >= 1 << 80:
            ms, rand = ms + 1, secrets.randbits(79)
    _recent[ms // _WINDOW_MS] = (ms, rand)
    if len(_recent) > _KEEP_WINDOWS:
        del _recent[next(iter(_recent))]  # the oldest window seen
    return f"{prefix}_{_b32(ms, 10)}{_b32(rand, 16)}"


def is_id(value: str, prefix: str) -> bool:
    head, _, body = value.partition("_")
    return head == prefix and len(body) == 26 and all(c in _ALPHABET for c in body)
