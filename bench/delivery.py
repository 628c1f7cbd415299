"""Delivery: bytes per variant against the original, and the memory one variant costs.

`bench/run --delivery`. Sources are deterministic: the placeholder's picture, a
photo-like 1024x1024 PNG (smooth gradients plus sensor-like noise, the size class a
provider returns: 1-2 MB), and, for memory, a noise PNG just under the binding's 20 MB
input limit. Variants are made by the local port (Pillow), the same code `scripts/serve`
runs; the Images binding's encoder (Cloudflare; sharp in wrangler's local mode) differs."""

from __future__ import annotations

import asyncio
import io
import random
import subprocess
import sys
import tempfile
import tracemalloc

from local.images import PillowTransformer
from pipeline.delivery import spec as specs
from pipeline.providers.placeholder_art import render_png

ACCEPT = "image/avif,image/webp,*/*;q=0.8"


def photo_like(width: int, height: int, noise: int = 12, seed: int = 7) -> bytes:
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    small = Image.new("RGB", (16, 16))
    small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(256)])
    base = small.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(4))
    grain = Image.effect_noise((width, height), noise).convert("RGB")
    image = Image.blend(base, grain, 0.15)
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


async def sizes(name: str, data: bytes, width: int, height: int) -> list[str]:
    port = PillowTransformer()
    rows = []
    for preset, fmt in (("thumb", None), ("thumb", "webp"), ("card", None), ("card", "webp"), ("full", None)):
        params = {"preset": preset, "format": fmt}
        rendition = specs.resolve(specs.parse(params), width, height, "image/png", ACCEPT)
        out = await port.transform(data, rendition.transform(), rendition.output())
        rows.append(f"| {name} ({len(data):,} B) | {preset} {rendition.width}x{rendition.height} "
                    f"{rendition.content_type.split('/')[1]} | {len(out):,} | {len(data) / len(out):.0f}x |")
    return rows


SIDE = 2900  # a noise PNG of this side is just under the binding's 20 MB input limit


def memory_child(path: str) -> None:
    """In a fresh process: peak RSS and tracemalloc of one thumbnail from a ~20 MB input."""
    with open(path, "rb") as f:
        data = f.read()
    rendition = specs.resolve(specs.parse({"preset": "thumb"}), SIDE, SIDE, "image/png", ACCEPT)
    port = PillowTransformer()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: reset the peak RSS (VmHWM) to the current RSS
    before = _status_kib("VmHWM")
    tracemalloc.start()
    asyncio.run(port.transform(data, rendition.transform(), rendition.output()))
    _, peak = tracemalloc.get_traced_memory()
    after = _status_kib("VmHWM")
    print(f"| thumb from a {len(data) / 2**20:.1f} MiB, {SIDE}x{SIDE} PNG | {peak / 2**20:.1f} MiB | "
          f"{(after - before) / 1024:.1f} MiB |")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


async def main() -> None:
    print("| source | variant | bytes | smaller by |\n|---|---|---|---|")
    placeholder = render_png(b"bench", 1024, 1024, text="a lighthouse on a cliff at dusk, stormy sea")
    for row in await sizes("placeholder 1024x1024", placeholder, 1024, 1024):
        print(row)
    for row in await sizes("photo-like 1024x1024", photo_like(1024, 1024), 1024, 1024):
        print(row)
    print("\n| memory | Python heap peak (tracemalloc) | process RSS growth (Pillow's C buffers included) |\n|---|---|---|")
    sys.stdout.flush()
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(photo_like(SIDE, SIDE, noise=200))
        f.flush()
        subprocess.run([sys.executable, "-c", f"from bench.delivery import memory_child; memory_child({f.name!r})"],
                       check=True)


if __name__ == "__main__":
    asyncio.run(main())
