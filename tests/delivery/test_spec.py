"""Variant specs: snapping, presets, negotiation, the AVIF limit, key naming."""

from __future__ import annotations

import pytest

from pipeline import errors
from pipeline.delivery import spec as specs


def test_widths_snap_up_to_a_small_set_and_quality_to_the_nearest():
    assert [specs.parse({"width": str(w)}).width for w in (1, 64, 65, 200, 256, 257, 5000)] == [64, 64, 128, 256, 256, 384, 2048]
    assert specs.parse({"quality": "72"}).quality == 70 and specs.parse({"width": "10"}).quality == specs.DEFAULT_QUALITY
    names = {specs.parse({"width": str(w), "quality": str(q)}).name for w in range(1, 3000, 7) for q in range(1, 101, 3)}
    assert len(names) <= len(specs.SIDES) * len(specs.QUALITIES)


def test_presets_are_data_and_explicit_parameters_override_them():
    thumb = specs.parse({"preset": "thumb"})
    assert (thumb.width, thumb.height, thumb.fit) == (256, 256, "cover")
    assert specs.parse({"preset": "thumb", "width": "100"}).width == 128
    assert thumb.name == specs.parse({"width": "256", "height": "256", "fit": "cover"}).name
    with pytest.raises(errors.InvalidRequest):
        specs.parse({"preset": "poster"})
    with pytest.raises(errors.InvalidRequest):
        specs.parse({"fit": "squeeze"})


def test_format_from_accept_and_avif_only_up_to_1200_px():
    card = specs.parse({"width": "512"})
    browser = "image/avif,image/webp,image/apng,*/*;q=0.8"
    assert specs.resolve(card, 1024, 1024, "image/png", browser).content_type == "image/avif"
    assert specs.resolve(card, 1024, 1024, "image/png", "image/webp,*/*").content_type == "image/webp"
    assert specs.resolve(card, 1024, 1024, "image/png", "image/avif;q=0,image/webp").content_type == "image/webp"
    assert specs.resolve(card, 1024, 1024, "image/png", "*/*").content_type == "image/png"
    big = specs.parse({"width": "1536", "format": "avif"})
    resolved = specs.resolve(big, 2048, 2048, "image/png", None)
    assert (resolved.width, resolved.content_type) == (1536, "image/webp")
    assert specs.resolve(specs.parse({"preset": "full"}), 1536, 1024, "image/png", browser).content_type == "image/webp"


def test_output_sizes_follow_the_fit():
    def size(params, w, h):
        r = specs.resolve(specs.parse(params), w, h, "image/png", None)
        return r.width, r.height

    assert size({"width": "256"}, 1536, 1024) == (256, 171)
    assert size({"width": "2048"}, 1024, 1024) == (1024, 1024)  # scale-down never enlarges
    assert size({"width": "2048", "fit": "contain"}, 1024, 1024) == (2048, 2048)
    assert size({"width": "256", "height": "256", "fit": "cover"}, 1536, 1024) == (256, 256)
    assert size({"width": "256", "height": "256"}, 1536, 1024) == (256, 171)


def test_a_variant_is_stored_beside_its_original():
    r = specs.resolve(specs.parse({"preset": "thumb", "format": "webp"}), 1024, 1024, "image/png", None)
    assert r.key("images/2026/12/01/gen_X/0.png") == "images/2026/12/01/gen_X/0.v/w256-h256-cover-q85-webp.webp"
