"""The ImageTransformer port under CPython: Pillow, with the Images binding's semantics
(fit scale-down / contain / cover as Cloudflare and its local simulator, sharp, apply them)."""

from __future__ import annotations

import io
from typing import Any

from pipeline import errors
from pipeline.delivery import spec as specs

try:
    from PIL import Image
except ImportError:  # pragma: no cover - Pillow is a dev dependency
    Image = None  # type: ignore[assignment]  # without Pillow the module still imports; variants are off

_SAVE = {"image/webp": "WEBP", "image/avif": "AVIF", "image/jpeg": "JPEG", "image/png": "PNG"}


class PillowTransformer:
    """Decode, resize (Lanczos), encode. Pure CPU: the event loop is blocked while it runs,
    as an isolate is while the binding works; a local server is single-user."""

    def __init__(self) -> None:
        if Image is None:
            raise RuntimeError("variants under CPython need Pillow (a dev dependency: scripts/python-env)")
        Image.MAX_IMAGE_PIXELS = specs.MAX_INPUT_PIXELS  # Pillow refuses bigger (decompression bombs)

    async def transform(self, data: bytes, transform: dict[str, Any], output: dict[str, Any]) -> bytes:
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except Exception as exc:  # noqa: BLE001 - any decoder failure is the input's fault
            raise errors.InvalidRequest(f"the stored image cannot be decoded: {exc}") from None
        image = self._resize(image, transform)
        return self._encode(image, output)

    @staticmethod
    def _resize(image: Any, transform: dict[str, Any]) -> Any:
        w, h = transform.get("width"), transform.get("height")
        if not w and not h:
            return image
        fit = transform.get("fit", "scale-down")
        spec = specs.VariantSpec(width=w, height=h, fit=fit, quality=specs.DEFAULT_QUALITY, format=None)
        out_w, out_h = specs.output_size(spec, image.width, image.height)
        if fit == "cover" and w and h:
            # Scale to cover the box, then crop the centre (sharp's `cover`, gravity centre).
            scale = max(w / image.width, h / image.height)
            sw, sh = max(w, round(image.width * scale)), max(h, round(image.height * scale))
            image = image.resize((sw, sh), Image.Resampling.LANCZOS)
            left, top = (sw - w) // 2, (sh - h) // 2
            return image.crop((left, top, left + w, top + h))
        if (out_w, out_h) == (image.width, image.height):
            return image
        return image.resize((out_w, out_h), Image.Resampling.LANCZOS)

    @staticmethod
    def _encode(image: Any, output: dict[str, Any]) -> bytes:
        content_type = output["format"]
        fmt = _SAVE.get(content_type)
        if fmt is None:
            raise errors.InvalidRequest(f"no output format {content_type!r}")
        quality = int(output.get("quality") or specs.DEFAULT_QUALITY)
        if fmt == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        elif image.mode not in ("RGB", "RGBA", "L", "LA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        buf = io.BytesIO()
        options: dict[str, Any] = {"quality": quality} if fmt != "PNG" else {"optimize": True}
        image.save(buf, fmt, **options)
        return buf.getvalue()
