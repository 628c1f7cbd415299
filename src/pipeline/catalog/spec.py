"""The shapes of the catalog: a model, its lifecycle, its size rule, its price.

Each provider's module (openai.py, gemini.py, imagen.py, workers_ai.py) is a
table of `ModelSpec`s; everything else (selection, validation, estimates,
`GET /v1/providers`, docs) reads those tables. Money is integer micro-dollars:
token rates per 1M tokens, per-image and per-unit prices as they are billed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Mapping

Status = Literal["active", "deprecated", "shut_down"]


@dataclass(frozen=True)
class Lifecycle:
    """`status` as announced; `shutdown` (YYYY-MM-DD, UTC) turns it into shut_down on that day."""

    status: Status = "active"
    shutdown: str | None = None
    replacement: str | None = None
    source: str = ""

    def status_on(self, day: date) -> Status:
        if self.status == "shut_down" or (self.shutdown and day.isoformat() >= self.shutdown):
            return "shut_down"
        return self.status

    def to_dict(self, day: date) -> dict[str, Any]:
        return {"status": self.status_on(day), "announced_status": self.status, "shutdown_date": self.shutdown,
                "replacement": self.replacement, "source": self.source}


@dataclass(frozen=True)
class SizeRule:
    """Either a fixed list of "WxH", or any W×H within constraints (plus the fixed list as presets)."""

    fixed: tuple[str, ...]
    any_wxh: bool = False
    multiple_of: int = 1
    min_ratio: float = 1.0  # width / height, inclusive
    max_ratio: float = 1.0
    max_pixels: int = 0
    max_edge: int = 0
    min_pixels: int = 0

    def check(self, w: int, h: int) -> str | None:
        """Why W×H is not allowed, or None when it is."""
        if not self.any_wxh:
            return None if f"{w}x{h}" in self.fixed else f"sizes are {', '.join(self.fixed)}"
        if w % self.multiple_of or h % self.multiple_of:
            return f"both sides must be multiples of {self.multiple_of}"
        if not (self.min_ratio - 1e-9 <= w / h <= self.max_ratio + 1e-9):
            return f"aspect ratio must be between {_ratio(self.min_ratio)} and {_ratio(self.max_ratio)}"
        if self.max_edge and max(w, h) > self.max_edge:
            return f"the longest side may be at most {self.max_edge}"
        if self.max_pixels and w * h > self.max_pixels:
            return f"at most {self.max_pixels} pixels"
        if self.min_pixels and w * h < self.min_pixels:
            return f"at least {self.min_pixels} pixels"
        return None

    def fit(self, w: int, h: int) -> str:
        """The allowed size nearest W×H (same ratio where possible); only for any_wxh."""
        ratio = min(max(w / h, self.min_ratio), self.max_ratio)
        pixels = w * h
        if self.max_pixels:
            pixels = min(pixels, self.max_pixels)
        pixels = max(pixels, self.min_pixels)
        m = self.multiple_of
        h2 = math.sqrt(pixels / ratio)
        w2 = h2 * ratio
        if self.max_edge and max(w2, h2) > self.max_edge:
            scale = self.max_edge / max(w2, h2)
            w2, h2 = w2 * scale, h2 * scale
        w3, h3 = max(m, int(w2 // m) * m), max(m, int(h2 // m) * m)
        while self.check(w3, h3) and w3 > m and h3 > m:  # rounding can leave the ratio band: shrink
            w3, h3 = (w3 - m, h3) if w3 / h3 > self.max_ratio else (w3, h3 - m)
        return f"{w3}x{h3}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"presets": list(self.fixed), "any_wxh": self.any_wxh}
        if self.any_wxh:
            d |= {"multiple_of": self.multiple_of, "min_ratio": _ratio(self.min_ratio), "max_ratio": _ratio(self.max_ratio),
                  "max_pixels": self.max_pixels, "max_edge": self.max_edge, "min_pixels": self.min_pixels}
        return d


def _ratio(r: float) -> str:
    return f"{round(r)}:1" if r >= 1 else f"1:{round(1 / r)}"


@dataclass(frozen=True)
class Price:
    """How a model is billed. `rates` in micro-dollars: per 1M tokens (`text_in`, `image_in`,
    `image_out`, `text_out`), per image (`per_image`, or `per_image_<size>`), or per unit
    (`per_tile`, `per_step`). `confidence`: official, third_party or unverified."""

    basis: Literal["tokens", "per_image", "units"]
    rates: Mapping[str, int]
    source: str
    checked: str  # YYYY-MM-DD
    confidence: Literal["official", "third_party", "unverified"] = "official"

    def to_dict(self) -> dict[str, Any]:
        return {"basis": self.basis, "rates": dict(self.rates), "source": self.source, "checked": self.checked,
                "confidence": self.confidence}


@dataclass(frozen=True)
class ModelSpec:
    id: str
    provider: str  # provider kind: openai, gemini, imagen, workers-ai
    label: str
    lifecycle: Lifecycle
    price: Price
    sizes: SizeRule
    operations: tuple[str, ...] = ("generate",)
    aspect_ratios: tuple[str, ...] = ()
    image_sizes: tuple[str, ...] = ()  # 1K / 2K / 4K, where the API takes a size class
    qualities: tuple[str, ...] = ()
    formats: tuple[str, ...] = ("png",)
    max_input_images: int = 0
    # Entity references (generation/references.py): how many reference images one call may
    # carry, how many of them may show people (characters), and where those figures are from.
    max_references: int = 0
    max_people: int = 0
    references_source: str = ""
    mask: bool = False
    streaming: bool = False
    images_per_call: int = 1
    transparent: bool = False
    options: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # e.g. complexity, input_fidelity
    estimate: Mapping[str, int] = field(default_factory=dict)  # estimator inputs (tokens per image, …)
    wire: str = ""  # which request/response shape the adapter uses (Workers AI models differ)

    def status_on(self, day: date) -> Status:
        return self.lifecycle.status_on(day)

    def to_dict(self, day: date, price: Price | None = None) -> dict[str, Any]:
        return {
            "id": self.id, "label": self.label, **self.lifecycle.to_dict(day),
            "operations": list(self.operations), "sizes": self.sizes.to_dict(),
            "aspect_ratios": list(self.aspect_ratios), "image_sizes": list(self.image_sizes),
            "qualities": list(self.qualities), "formats": list(self.formats),
            "max_input_images": self.max_input_images, "max_references": self.max_references,
            "max_people": self.max_people, "references_source": self.references_source, "mask": self.mask, "streaming": self.streaming,
            "images_per_call": self.images_per_call, "transparent_background": self.transparent,
            "options": {k: list(v) for k, v in self.options.items()},
            "price": (price or self.price).to_dict(),
        }


@dataclass(frozen=True)
class ProviderCatalog:
    """One provider kind's models, in preference order, and its documented defaults."""

    kind: str
    models: tuple[ModelSpec, ...]
    defaults: Mapping[str, str]  # tier ("cost", "quality") -> model id
    # Calls of one request the provider may serve at once (generation/calls.py runs them
    # together; limits.py may allow fewer for large images). 1: one after another.
    parallel_calls: int = 1

    def get(self, model_id: str) -> ModelSpec | None:
        return next((m for m in self.models if m.id == model_id), None)

    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)
