"""Imagen 4 on Vertex AI (`:predict` on the regional endpoint), checked 2026-11-25.

Imagen was shut down on the Gemini API on 2026-08-17; Vertex AI still serves it.
Parameter names: google-genai 3.6.1 (`parameters.sampleImageSize`, `aspectRatio`,
`personGeneration`, `sampleCount`). Billed per returned image; filtered images
are not billed."""

from __future__ import annotations

from .spec import Lifecycle, ModelSpec, Price, ProviderCatalog, SizeRule

CHECKED = "2026-11-25"
_SOURCE = "https://cloud.google.com/vertex-ai/generative-ai/pricing (via [3P] mirrors)"
_VERTEX = "https://cloud.google.com/vertex-ai/generative-ai/docs/models/imagen/4-0-generate"

# aspectRatio -> 1K and 2K sizes (the documented five ratios).
RATIOS = {"1:1": ("1024x1024", "2048x2048"), "3:4": ("896x1280", "1792x2560"), "4:3": ("1280x896", "2560x1792"),
          "9:16": ("768x1408", "1536x2816"), "16:9": ("1408x768", "2816x1536")}
PERSON_GENERATION = ("dont_allow", "allow_adult", "allow_all")

SIZE_OF = {size: (ratio, image_size) for ratio, pair in RATIOS.items() for size, image_size in zip(pair, ("1K", "2K"), strict=True)}


def _model(mid: str, label: str, micros: int, image_sizes: tuple[str, ...], per_call: int) -> ModelSpec:
    sizes = tuple(s for s, (_, cls) in SIZE_OF.items() if cls in image_sizes)
    return ModelSpec(
        id=mid, provider="imagen", label=label, lifecycle=Lifecycle("active", source=_VERTEX),
        price=Price("per_image", {"per_image": micros}, _SOURCE, CHECKED, "third_party"),
        sizes=SizeRule(sizes), aspect_ratios=tuple(RATIOS), image_sizes=image_sizes, formats=("png",),
        images_per_call=per_call, options={"person_generation": PERSON_GENERATION},
    )


CATALOG = ProviderCatalog(
    kind="imagen",
    defaults={"cost": "imagen-4.0-fast-generate-001", "quality": "imagen-4.0-ultra-generate-001"},
    models=(
        _model("imagen-4.0-fast-generate-001", "Imagen 4 Fast", 20_000, ("1K",), 4),
        _model("imagen-4.0-generate-001", "Imagen 4", 40_000, ("1K", "2K"), 4),
        _model("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra", 60_000, ("1K", "2K"), 4),
    ),
)
