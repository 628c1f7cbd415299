"""Gemini image models (`generateContent`), checked 2026-11-25.

Statuses: the Gemini API changelog and deprecations page. Parameters:
google-genai 3.6.1 `types.ImageConfig` (aspectRatio, imageSize, personGeneration).
Prices are mostly third-party or unverified (the official pricing page was not
reachable when checked): billing reads `usageMetadata`, these rates price it."""

from __future__ import annotations

from .spec import Lifecycle, ModelSpec, Price, ProviderCatalog, SizeRule

CHECKED = "2026-11-25"
_CHANGELOG = "https://ai.google.dev/gemini-api/docs/changelog"
_DEPRECATIONS = "https://ai.google.dev/gemini-api/docs/deprecations"

# The 1K output size of each aspect ratio (1:1 first, the default). 2K and 4K double and
# quadruple both sides. The four extreme ratios are Nano Banana 2.1's [sizes unverified].
RATIO_1K = {
    "1:1": (1024, 1024), "2:3": (832, 1248), "3:2": (1248, 832), "3:4": (864, 1184), "4:3": (1184, 864),
    "4:5": (896, 1152), "5:4": (1152, 896), "9:16": (768, 1344), "16:9": (1344, 768), "21:9": (1536, 672),
    "1:4": (512, 2048), "4:1": (2048, 512), "1:8": (384, 3072), "8:1": (3072, 384),
}
SCALE = {"1K": 1, "2K": 2, "4K": 4}
BASE_RATIOS = tuple(list(RATIO_1K)[:10])
ALL_RATIOS = tuple(RATIO_1K)
PERSON_GENERATION = ("allow_all", "allow_adult", "dont_allow")
# request value -> the wire value (SDK ImageConfig.person_generation: ALLOW_ALL, ALLOW_ADULT, ALLOW_NONE)
PERSON_WIRE = {"allow_all": "ALLOW_ALL", "allow_adult": "ALLOW_ADULT", "dont_allow": "ALLOW_NONE"}


def presets(ratios: tuple[str, ...], image_sizes: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """"WxH" -> (aspectRatio, imageSize) for every combination the model takes."""
    out: dict[str, tuple[str, str]] = {}
    for image_size in image_sizes:
        for ratio in ratios:
            w, h = RATIO_1K[ratio]
            out[f"{w * SCALE[image_size]}x{h * SCALE[image_size]}"] = (ratio, image_size)
    return out


# Reference images (the Gemini API image-generation guide, "Use up to 14 reference images"):
# Gemini 3 Pro Image up to 14, of which up to 5 people (6 objects); the 3.1 Flash image models
# up to 14, of which up to 4 characters (10 objects); 2.5 Flash Image works best with up to 3.
_REFS_DOC = "https://ai.google.dev/gemini-api/docs/image-generation (Use up to 14 reference images)"
_REFS_25 = "https://ai.google.dev/gemini-api/docs/image-generation (2.5 Flash Image: best with up to 3 input images)"
# Input tokens one reference image is billed as, at most: 1290 (a 1024-px image on 2.5 Flash
# Image; the Gemini 3 models' default media resolution counts 1120), at the `image_in` rate.
REFERENCE_TOKENS = 1290


def _model(mid: str, label: str, lifecycle: Lifecycle, price: Price, *, ratios: tuple[str, ...] = ALL_RATIOS,
           image_sizes: tuple[str, ...] = ("1K", "2K", "4K"), max_inputs: int = 14,
           tokens: dict[str, int] | None = None, refs: tuple[int, int, str] = (14, 4, _REFS_DOC)) -> ModelSpec:
    return ModelSpec(
        id=mid, provider="gemini", label=label, lifecycle=lifecycle, price=price,
        sizes=SizeRule(tuple(presets(ratios, image_sizes))), operations=("generate", "edit"),
        aspect_ratios=ratios, image_sizes=image_sizes, formats=("png",), max_input_images=max_inputs,
        max_references=refs[0], max_people=refs[1], references_source=refs[2],
        images_per_call=1, options={"person_generation": PERSON_GENERATION},
        # output tokens of one image per image size; `prompt_room` bounds thinking/text output
        estimate={**(tokens or {"1K": 1120, "2K": 1680, "4K": 3780}), "text_out_room": 2000,
                  "image_in_tokens": REFERENCE_TOKENS},
    )


def _tokens(text_in: int, image_out: int, text_out: int, source: str, confidence: str) -> Price:
    return Price("tokens", {"text_in": text_in, "image_in": text_in, "image_out": image_out, "text_out": text_out},
                 source, CHECKED, confidence)  # type: ignore[arg-type]  # the table's strings are the declared Literals (tests/catalog checks them)


_GONE = "shut_down"

CATALOG = ProviderCatalog(
    kind="gemini",
    defaults={"cost": "gemini-nano-banana-2.1", "quality": "gemini-3-pro-image"},
    # One image per call, and the API limits requests per minute, not requests in flight:
    # n images come from n calls made together.
    parallel_calls=4,
    models=(
        _model("gemini-nano-banana-2.1", "Nano Banana 2.1", Lifecycle("active", source=_CHANGELOG + " (2026-10-06)"),
               _tokens(1_500_000, 30_000_000, 7_500_000,
                       "[3P] https://inference.sh/apps/google/gemini-nano-banana-2-1.md", "third_party")),
        _model("gemini-3.1-flash-lite-image", "Nano Banana 2 Lite", Lifecycle("active", source=_CHANGELOG + " (2026-06-30)"),
               _tokens(1_500_000, 30_000_000, 7_500_000, "[3P] image out $30/1M; input unverified", "unverified"),
               image_sizes=("1K",), ratios=BASE_RATIOS, max_inputs=3, tokens={"1K": 1120},
               refs=(3, 3, "[3P] as its input images (3); people unverified")),
        _model("gemini-3-pro-image", "Nano Banana Pro", Lifecycle("active", source=_DEPRECATIONS),
               _tokens(2_000_000, 120_000_000, 12_000_000, "earlier official preview pricing [unverified]", "unverified"),
               ratios=BASE_RATIOS, tokens={"1K": 1120, "2K": 1120, "4K": 2000}, refs=(14, 5, _REFS_DOC)),
        _model("gemini-3.1-flash-image", "Nano Banana 2",
               Lifecycle("deprecated", "2026-10-29", "gemini-nano-banana-2.1", _CHANGELOG + " (2026-10-06); date [3P]"),
               _tokens(250_000, 60_000_000, 7_500_000, "[3P] skills.mosisson.com", "unverified")),
        _model("gemini-2.5-flash-image", "Nano Banana",
               Lifecycle("deprecated", "2026-10-02", "gemini-nano-banana-2.1", _DEPRECATIONS + " (earliest shutdown)"),
               _tokens(300_000, 30_000_000, 2_500_000, "earlier official pricing [unverified]", "unverified"),
               image_sizes=("1K",), ratios=BASE_RATIOS, max_inputs=3, tokens={"1K": 1290}, refs=(3, 3, _REFS_25)),
        _model("gemini-3-pro-image-preview", "Nano Banana Pro (preview)",
               Lifecycle(_GONE, "2026-06-25", "gemini-3-pro-image", _DEPRECATIONS),
               _tokens(0, 0, 0, "shut down", "official")),
        _model("gemini-3.1-flash-image-preview", "Nano Banana 2 (preview)",
               Lifecycle(_GONE, "2026-06-25", "gemini-nano-banana-2.1", _DEPRECATIONS),
               _tokens(0, 0, 0, "shut down", "official")),
    ),
)
