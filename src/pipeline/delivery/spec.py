"""Variant specs: what `?width=&height=&fit=&quality=&format=&preset=` asks for, snapped to
a small set so that an image has a bounded number of variants, and resolved against the
original's size and the caller's `Accept` header into what is made and stored.

The tables below are the policy; everything else follows from them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .. import errors

# Output widths/heights a request snaps up to (the next one at least as large; above the
# largest, the largest). 8 sizes x 3 fits x 4 qualities x 4 formats bounds an image's variants.
SIDES = (64, 128, 256, 384, 512, 768, 1024, 1536, 2048)
QUALITIES = (50, 70, 85, 95)  # a requested quality snaps to the nearest
DEFAULT_QUALITY = 85
FITS = ("scale-down", "contain", "cover")
FORMATS = {"avif": "image/avif", "webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
EXTENSIONS = {mime: ext for ext, mime in FORMATS.items()}
AVIF_MAX_SIDE = 1200  # Cloudflare Images' AVIF output limit; larger AVIF requests get WebP
# The binding's input limits (developers.cloudflare.com/images/get-started/limits/).
MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_INPUT_PIXELS = 100_000_000

# Named sizes, so a frontend need not invent its own. `full` keeps the original's size.
PRESETS: dict[str, dict[str, object]] = {
    "thumb": {"width": 256, "height": 256, "fit": "cover"},
    "card": {"width": 512, "fit": "scale-down"},
    "hero": {"width": 1536, "fit": "scale-down"},
    "full": {"fit": "scale-down"},
}
THUMBNAIL_PRESET = "thumb"  # what results link as `thumbnail_url`


def snap_side(value: int) -> int:
    """The smallest listed side at least `value`, else the largest."""
    return next((s for s in SIDES if s >= value), SIDES[-1])


def snap_quality(value: int) -> int:
    return min(QUALITIES, key=lambda q: (abs(q - value), -q))


@dataclass(frozen=True)
class VariantSpec:
    """A variant as asked for (snapped; `format` None = negotiate from Accept)."""

    width: int | None
    height: int | None
    fit: str
    quality: int
    format: str | None

    @property
    def name(self) -> str:
        """Canonical, before negotiation: what a signed URL's signature names."""
        return f"w{self.width or 0}-h{self.height or 0}-{self.fit}-q{self.quality}-{self.format or 'auto'}"

    def query(self) -> dict[str, str]:
        """The canonical query parameters for this spec (URLs we hand out)."""
        q = {"width": self.width, "height": self.height, "fit": self.fit, "quality": self.quality, "format": self.format}
        return {k: str(v) for k, v in q.items() if v is not None}


@dataclass(frozen=True)
class Rendition:
    """A spec resolved for one original and one Accept header: what is made and stored."""

    spec: VariantSpec
    width: int  # output size
    height: int
    content_type: str

    @property
    def name(self) -> str:
        return f"w{self.spec.width or 0}-h{self.spec.height or 0}-{self.spec.fit}-q{self.spec.quality}-{EXTENSIONS[self.content_type]}"

    def key(self, original_key: str) -> str:
        """The R2 key beside the original: `images/…/<request>/0.png` → `…/<request>/0.v/<name>.<ext>`."""
        stem = original_key.rsplit(".", 1)[0]
        return f"{stem}.v/{self.name}.{EXTENSIONS[self.content_type]}"

    def transform(self) -> dict[str, object]:
        """The binding's `.transform()` options (Cloudflare's vocabulary, also Pillow's input)."""
        options: dict[str, object] = {"fit": self.spec.fit}
        if self.spec.width:
            options["width"] = self.spec.width
        if self.spec.height:
            options["height"] = self.spec.height
        return options

    def output(self) -> dict[str, object]:
        """The binding's `.output()` options."""
        return {"format": self.content_type, "quality": self.spec.quality}


_PARAMS = ("width", "height", "fit", "quality", "format", "preset")


def wants_variant(params: Mapping[str, str | None]) -> bool:
    """Any variant parameter given (else the original's bytes are served)."""
    return any(params.get(p) not in (None, "") for p in _PARAMS)


def _int(params: Mapping[str, object], name: str, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise errors.InvalidRequest(f"{name} must be an integer", details={"field": name}) from None
    if not low <= value <= high:
        raise errors.InvalidRequest(f"{name} must be between {low} and {high}", details={"field": name})
    return value


def parse(params: Mapping[str, str | None]) -> VariantSpec:
    """A spec from query parameters; a preset gives defaults that explicit parameters override."""
    merged: dict[str, object] = {}
    preset = params.get("preset")
    if preset not in (None, ""):
        if preset not in PRESETS:
            raise errors.InvalidRequest(f"preset must be one of {', '.join(PRESETS)}", details={"field": "preset"})
        merged.update(PRESETS[str(preset)])
    merged.update({k: v for k, v in params.items() if k != "preset" and v not in (None, "")})
    width = _int(merged, "width", 1, 12_000)
    height = _int(merged, "height", 1, 12_000)
    quality = _int(merged, "quality", 1, 100)
    fit = str(merged.get("fit") or "scale-down")
    if fit not in FITS:
        raise errors.InvalidRequest(f"fit must be one of {', '.join(FITS)}", details={"field": "fit"})
    fmt = merged.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise errors.InvalidRequest(f"format must be one of {', '.join(FORMATS)}", details={"field": "format"})
    return VariantSpec(
        width=snap_side(width) if width else None,
        height=snap_side(height) if height else None,
        fit=fit,
        quality=snap_quality(quality) if quality else DEFAULT_QUALITY,
        format=str(fmt) if fmt else None,
    )


def output_size(spec: VariantSpec, width: int, height: int) -> tuple[int, int]:
    """The size Cloudflare (and sharp, and our Pillow port) produce for this spec."""
    w, h = spec.width, spec.height
    if not w and not h:
        return width, height
    if w and h and spec.fit == "cover":
        return w, h
    scale = min(w / width if w else float("inf"), h / height if h else float("inf"))
    if spec.fit == "scale-down":
        scale = min(scale, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def accepts(accept: str | None) -> set[str]:
    """The image types an Accept header names with a non-zero q (wildcards are not AVIF/WebP)."""
    found: set[str] = set()
    for part in (accept or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = next((p.split("=", 1)[1] for p in params if p.startswith("q=")), "1")
        try:
            if float(q) <= 0:
                continue
        except ValueError:
            continue
        found.add(media.lower())
    return found


def resolve(spec: VariantSpec, width: int, height: int, original_type: str, accept: str | None) -> Rendition:
    """Choose the output size and format: the asked format, else the best Accept allows;
    AVIF only up to AVIF_MAX_SIDE per side (else WebP)."""
    out_w, out_h = output_size(spec, width, height)
    avif_ok = max(out_w, out_h) <= AVIF_MAX_SIDE
    if spec.format is not None:
        content_type = FORMATS[spec.format]
        if content_type == "image/avif" and not avif_ok:
            content_type = "image/webp"
    else:
        allowed = accepts(accept)
        if "image/avif" in allowed and avif_ok:
            content_type = "image/avif"
        elif "image/webp" in allowed:
            content_type = "image/webp"
        elif original_type in EXTENSIONS and (original_type != "image/avif" or avif_ok):
            content_type = original_type
        else:
            content_type = "image/jpeg"
    return Rendition(spec, out_w, out_h, content_type)
