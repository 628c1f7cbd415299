"""Workers AI text-to-image models over the `AI` binding, checked 2026-11-25.

Each model has its own input and output shape (`wire`); the adapter keeps one
builder per shape. Neurons cost $0.011 per 1,000; prices below are per unit as
the model pages give them."""

from __future__ import annotations

from .spec import Lifecycle, ModelSpec, Price, ProviderCatalog, SizeRule

CHECKED = "2026-11-25"
_PRICING = "https://developers.cloudflare.com/workers-ai/platform/pricing/"

CATALOG = ProviderCatalog(
    kind="workers-ai",
    defaults={"cost": "@cf/black-forest-labs/flux-1-schnell", "quality": "@cf/leonardo/lucid-origin"},
    models=(
        ModelSpec(
            id="@cf/black-forest-labs/flux-1-schnell", provider="workers-ai", label="FLUX.1 [schnell]",
            lifecycle=Lifecycle("active", source=_PRICING),
            # $0.0000528 per 512x512 tile + $0.0001056 per step, rounded up to whole micro-dollars
            price=Price("units", {"per_tile": 53, "per_step": 106}, _PRICING, CHECKED, "official"),
            sizes=SizeRule(("1024x1024",)), qualities=("low", "medium", "high", "auto"), formats=("jpeg",),
            # {prompt, steps (max 8)} -> {image: base64}; no width/height, no input image
            estimate={"low": 2, "medium": 4, "high": 8, "auto": 4}, wire="flux_schnell",
        ),
        ModelSpec(
            id="@cf/leonardo/lucid-origin", provider="workers-ai", label="Leonardo Lucid Origin",
            lifecycle=Lifecycle("active", source="@cloudflare/workers-types 5.20261117.1 AiModels"),
            price=Price("units", {"per_tile": 7_000, "per_step": 130},
                        "[3P] ~$0.007 per 512x512 tile + $0.00013 per step", CHECKED, "unverified"),
            sizes=SizeRule(("1024x1024", "1344x768", "768x1344", "1152x896", "896x1152"), any_wxh=True,
                           multiple_of=8, min_ratio=1 / 2.5, max_ratio=2.5, max_pixels=2500 * 2500 // 4,
                           max_edge=2500, min_pixels=0),
            qualities=("low", "medium", "high", "auto"), formats=("jpeg",),
            # {prompt, width, height, num_steps, guidance} -> {image: base64}
            estimate={"low": 10, "medium": 25, "high": 40, "auto": 25}, wire="leonardo",
        ),
    ),
)
