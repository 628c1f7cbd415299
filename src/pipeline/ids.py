"""Sortable identifiers: a prefix, then 48 bits of milliseconds and 80 random
bits in Crockford base32 (ULID layout), so ids sort by creation time."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _b32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


_last = [0, 0]  # (ms, random part) of the previous id in this isolate


def new_id(prefix: str, now_ms: int | None = None) -> str:
    """`gen_01JD…`: time-ordered, then random (drawn at call time, never at import).
    Within one isolate ids strictly increase, even within one millisecond."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = secrets.randbits(80)
    if ms <= _last[0]:
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
