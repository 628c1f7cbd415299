"""The placeholder's picture: deterministic, the requested size, the prompt's words on it."""

from __future__ import annotations

import io

from PIL import Image

from pipeline.providers.placeholder_art import render_png, wrap


def test_same_seed_same_bytes_and_the_requested_size():
    a = render_png(b"seed", 1536, 1024, text="a fox in the snow")
    assert a == render_png(b"seed", 1536, 1024, text="a fox in the snow")
    assert a != render_png(b"other", 1536, 1024, text="a fox in the snow")
    image = Image.open(io.BytesIO(a))
    assert image.size == (1536, 1024) and image.mode == "RGB"


def test_the_words_are_drawn_and_wrapped():
    blank = Image.open(io.BytesIO(render_png(b"s", 512, 512))).convert("RGB")
    worded = Image.open(io.BytesIO(render_png(b"s", 512, 512, text="hello world"))).convert("RGB")
    # The panel and its near-white letters are there only when there is text.
    def letter_pixels(image: Image.Image) -> int:
        raw = image.tobytes()
        return sum(1 for i in range(0, len(raw), 3) if raw[i:i + 3] == b"\xf4\xf4\xf4")

    assert letter_pixels(worded) > letter_pixels(blank) + 200
    assert wrap("one two three four", 9, 5) == ["ONE TWO", "THREE", "FOUR"]
    assert wrap("word " * 40, 10, 2)[-1].endswith("...")


def test_transparent_has_a_clear_border():
    image = Image.open(io.BytesIO(render_png(b"s", 256, 256, transparent=True, text="x")))
    assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0 and image.getpixel((128, 128))[3] == 255
