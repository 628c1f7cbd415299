"""OpenAI GPT Image models (Images API), checked 2026-11-25.

Statuses, parameters and size rules: openai 3.57.0 SDK types (`image_model.py`,
`image_generate_params.py`, `image_edit_params.py`) and the deprecations page.
Prices: per 1M tokens; billing reads `usage`, so these rates are what matters."""

from __future__ import annotations

from .spec import Lifecycle, ModelSpec, Price, ProviderCatalog, SizeRule

CHECKED = "2026-11-25"
_MODELS_PAGE = "https://developers.openai.com/api/docs/models/"
_DEPRECATIONS = "https://developers.openai.com/api/docs/deprecations"
_SDK = "openai 3.57.0 types/image_model.py"

PRESETS = ("1024x1024", "1536x1024", "1024x1536")
FIXED = SizeRule(PRESETS)
# SDK `size` docstring: gpt-image-2 and 2.5 take any WxH, both sides ÷16, ratio 1:3–3:1, max 3840x2160.
ANY_WXH = SizeRule(PRESETS + ("2048x2048", "1536x864", "864x1536", "3840x2160"), any_wxh=True, multiple_of=16,
                   min_ratio=1 / 3, max_ratio=3.0, max_pixels=3840 * 2160, max_edge=3840)

BASE_QUALITIES = ("low", "medium", "high", "auto")
MAX_QUALITIES = ("low", "medium", "high", "xhigh", "max", "auto")  # SDK: xhigh and max on 2.5 only
FORMATS = ("png", "jpeg", "webp")  # gif and svg are refused (see providers/openai.py)
COMPLEXITY = ("low", "medium", "high")

# Image output tokens of one 1024x1024 image by quality (gpt-image-1 basis, scaled by pixels).
# xhigh and max: no published figure; 2x and 4x high as an upper guess [unverified].
OUTPUT_TOKENS_1024 = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
EDIT_INPUT_TOKENS_PER_IMAGE = 4_160  # an input image at high fidelity, bounded
# References go to the edits endpoint as `image[]` ("up to 16 images" on GPT image models,
# images/createEdit); OpenAI documents no separate limit on people, so all 16 may be.
_REFS_DOC = "https://platform.openai.com/docs/api-reference/images/createEdit (image: up to 16 images)"
PARTIAL_IMAGE_TOKENS = 100  # each streamed preview adds ~100 image output tokens [third party]

_GPT2_RATES = {"text_in": 5_000_000, "text_cached": 1_250_000, "image_in": 8_000_000, "image_cached": 2_000_000,
               "image_out": 30_000_000, "text_out": 10_000_000}


def _price(rates: dict[str, int], source: str, confidence: str = "official") -> Price:
    return Price("tokens", rates, source, CHECKED, confidence)  # type: ignore[arg-type]  # the table's strings are the declared Literals (tests/catalog checks them)


def _model(mid: str, label: str, lifecycle: Lifecycle, price: Price, *, sizes: SizeRule = FIXED,
           qualities: tuple[str, ...] = BASE_QUALITIES, fidelity: tuple[str, ...] = (), complexity: bool = True,
           transparent: bool = True) -> ModelSpec:
    options: dict[str, tuple[str, ...]] = {}
    if complexity:
        options["complexity"] = COMPLEXITY
    if fidelity:
        options["input_fidelity"] = fidelity
    return ModelSpec(
        id=mid, provider="openai", label=label, lifecycle=lifecycle, price=price, sizes=sizes,
        operations=("generate", "edit"), qualities=qualities, formats=FORMATS, max_input_images=16, mask=True,
        max_references=16, max_people=16, references_source=_REFS_DOC,
        streaming=True, images_per_call=10, transparent=transparent, options=options,
        estimate={**OUTPUT_TOKENS_1024, "image_in_tokens": EDIT_INPUT_TOKENS_PER_IMAGE},
    )


ACTIVE = Lifecycle("active", source=_SDK)
_GONE_DEC1 = dict(status="deprecated", shutdown="2026-12-01", replacement="gpt-image-2.6-sunburst", source=_DEPRECATIONS)

CATALOG = ProviderCatalog(
    kind="openai",
    defaults={"cost": "gpt-image-2.6-flare", "quality": "gpt-image-2.6-sunburst"},
    models=(
        _model("gpt-image-2.6-flare", "GPT Image 2.6 Flare (fast)", ACTIVE,
               _price(_GPT2_RATES, "[3P] priced as 2.6 sunburst: https://docs.apiyi.com/en/live/2026-11/gpt-image-2-6-launch.md",
                      "third_party")),
        _model("gpt-image-2.6-sunburst", "GPT Image 2.6 Sunburst (quality)", ACTIVE,
               _price(_GPT2_RATES, _MODELS_PAGE + "gpt-image-2.6-sunburst")),
        _model("gpt-image-2.5-flare", "GPT Image 2.5 Flare", ACTIVE,
               _price(_GPT2_RATES, "[3P] https://docs.apiyi.com/en/news/gpt-image-2-5-launch.md", "third_party"),
               sizes=ANY_WXH, qualities=MAX_QUALITIES),
        _model("gpt-image-2.5-flare-2026-09-08", "GPT Image 2.5 Flare (snapshot)", ACTIVE,
               _price(_GPT2_RATES, "[3P] https://docs.apiyi.com/en/news/gpt-image-2-5-launch.md", "third_party"),
               sizes=ANY_WXH, qualities=MAX_QUALITIES),
        _model("gpt-image-2.5-sunburst", "GPT Image 2.5 Sunburst", ACTIVE,
               _price(_GPT2_RATES, "[3P] https://docs.apiyi.com/en/news/gpt-image-2-5-launch.md", "third_party"),
               sizes=ANY_WXH, qualities=MAX_QUALITIES),
        _model("gpt-image-2.5-sunburst-2026-09-08", "GPT Image 2.5 Sunburst (snapshot)", ACTIVE,
               _price(_GPT2_RATES, "[3P] https://docs.apiyi.com/en/news/gpt-image-2-5-launch.md", "third_party"),
               sizes=ANY_WXH, qualities=MAX_QUALITIES),
        _model("gpt-image-2", "GPT Image 2", ACTIVE,
               _price(_GPT2_RATES, "[3P] https://fal.ai/models/openai/gpt-image-2/llms.txt", "third_party"),
               sizes=ANY_WXH),
        _model("gpt-image-2-2026-04-21", "GPT Image 2 (snapshot)", ACTIVE,
               _price(_GPT2_RATES, "[3P] https://fal.ai/models/openai/gpt-image-2/llms.txt", "third_party"),
               sizes=ANY_WXH),
        _model("gpt-image-1.5", "GPT Image 1.5", Lifecycle(**_GONE_DEC1),  # type: ignore[arg-type]  # a shared **dict of Lifecycle fields
               _price({"text_in": 5_000_000, "image_in": 8_000_000, "image_out": 32_000_000, "text_out": 10_000_000},
                      "[3P] https://docs.apiyi.com/api-capabilities/gpt-image-2/historical-versions", "unverified"),
               fidelity=("high", "low"), complexity=False),
        _model("gpt-image-1-mini", "GPT Image 1 mini", Lifecycle(**_GONE_DEC1),  # type: ignore[arg-type]  # a shared **dict of Lifecycle fields
               _price({"text_in": 2_000_000, "image_in": 2_500_000, "image_out": 8_000_000, "text_out": 8_000_000},
                      _MODELS_PAGE + "gpt-image-1-mini"),
               fidelity=("low",), complexity=False),
        _model("chatgpt-image-latest", "ChatGPT Image (latest)", Lifecycle(**_GONE_DEC1),  # type: ignore[arg-type]  # a shared **dict of Lifecycle fields
               _price(_GPT2_RATES, "no published rate; GPT Image 2 rates assumed", "unverified"), complexity=False),
        _model("gpt-image-1", "GPT Image 1", Lifecycle("shut_down", "2026-10-23", "gpt-image-2.5-sunburst", _SDK),
               _price({"text_in": 5_000_000, "image_in": 10_000_000, "image_out": 40_000_000},
                      _MODELS_PAGE + "gpt-image-1"), complexity=False),
        _model("dall-e-3", "DALL·E 3", Lifecycle("shut_down", "2026-05-12", "gpt-image-2.6-flare", _SDK),
               _price({}, "retired", "official"), complexity=False),
        _model("dall-e-2", "DALL·E 2", Lifecycle("shut_down", "2026-05-12", "gpt-image-2.6-flare", _SDK),
               _price({}, "retired", "official"), complexity=False),
    ),
)
