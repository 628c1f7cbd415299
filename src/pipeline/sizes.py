"""Size normalisation: callers ask for a size or an aspect ratio; each provider
gets the nearest one it supports, and the result says which was used."""

from __future__ import annotations

import math
from functools import lru_cache


def parse(size: str) -> tuple[int, int]:
    w, _, h = size.partition("x")
    return int(w), int(h)


@lru_cache(maxsize=256)
def ratio_label(size: str) -> str:
    """The provider-facing aspect-ratio label nearest a size: '1344x768' -> '16:9'."""
    w, h = parse(size)
    best = min(_COMMON, key=lambda r: abs(math.log(w / h) - math.log(r[0] / r[1])))
    return f"{best[0]}:{best[1]}"


_COMMON = ((1, 1), (2, 3), (3, 2), (3, 4), (4, 3), (4, 5), (5, 4), (9, 16), (16, 9), (21, 9))


def _distance(want_ratio: float, want_area: float | None, size: str) -> tuple[float, float]:
    w, h = parse(size)
    ratio_gap = abs(math.log(w / h) - math.log(want_ratio))
    area_gap = abs(math.log(w * h) - math.log(want_area)) if want_area else 0.0
    return (round(ratio_gap, 6), area_gap)


def choose(size: str | None, aspect_ratio: str | None, supported: tuple[str, ...]) -> tuple[str, str | None]:
    """Pick the supported size nearest the request: first by aspect ratio, then by
    area. Returns (size, a note for the caller when it differs from what was asked)."""
    if not supported:
        raise ValueError("provider declares no sizes")
    if size in (None, "auto") and aspect_ratio is None:
        return supported[0], None
    if size not in (None, "auto"):
        if size in supported:
            return size, None
        w, h = parse(size)
        want_ratio, want_area = w / h, float(w * h)
        asked = size
    else:
        a, _, b = aspect_ratio.partition(":")  # type: ignore[union-attr]  # with no size, the request has an aspect ratio
        want_ratio, want_area = int(a) / int(b), None
        asked = aspect_ratio
    best = min(supported, key=lambda s: _distance(want_ratio, want_area, s))
    if aspect_ratio is not None and ratio_label(best) == aspect_ratio:
        return best, None
    return best, f"size {asked} not supported; using nearest {best}"
