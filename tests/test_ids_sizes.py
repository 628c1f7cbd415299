"""Ids sort by creation time; sizes go to the nearest one a provider supports."""

from __future__ import annotations

from pipeline import sizes
from pipeline.ids import is_id, new_id


def test_ids_are_strictly_increasing_and_well_formed():
    ids = [new_id("gen") for _ in range(2000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(is_id(i, "gen") for i in ids)
    assert new_id("img", now_ms=10**13) > ids[-1]


def test_sizes_pick_the_nearest_supported():
    supported = ("1024x1024", "1536x1024", "1024x1536")
    assert sizes.choose(None, None, supported) == ("1024x1024", None)
    assert sizes.choose("1536x1024", None, supported) == ("1536x1024", None)
    assert sizes.choose("1920x1080", None, supported)[0] == "1536x1024"
    assert sizes.choose(None, "9:16", supported) == ("1024x1536", "size 9:16 not supported; using nearest 1024x1536")
    assert sizes.choose("512x512", None, supported) == ("1024x1024", "size 512x512 not supported; using nearest 1024x1024")
    assert sizes.ratio_label("1344x768") == "16:9" and sizes.ratio_label("1536x672") == "21:9"


def test_ids_of_interleaved_clocks_each_strictly_increase():
    """Two clocks days apart in one process (as in the test suite), taking turns in the same
    milliseconds: each one's ids still sort in the order they were made."""
    from datetime import datetime, timezone

    a, b = datetime(2026, 11, 20, 12, tzinfo=timezone.utc), datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    first, second = [], []
    for _ in range(500):
        first.append(new_id("key", a))
        second.append(new_id("req", b))
    assert first == sorted(first) and len(set(first)) == 500
    assert second == sorted(second) and len(set(second)) == 500
    assert new_id("key", a) > first[-1]  # the same instant again still sorts after
