"""Workers AI through the `AI` binding: FLUX.1 [schnell] on Cloudflare's GPUs.

No external key: the binding is the credential. `env.AI.run(model, {prompt,
steps})` answers `{image: <base64 JPEG>}` at 1024x1024; one image per call.
Under CPython the same AiBinding port is served by local/workers_ai.py."""

from __future__ import annotations

import re
from typing import Any

from .. import errors
from ..catalog import pricing
from .base import (
    Capabilities,
    CostEstimate,
    GeneratedImage,
    ImageProvider,
    ProviderContext,
    ProviderRequest,
    ProviderResult,
    decode_image,
    image_type,
)

MODEL = "@cf/black-forest-labs/flux-1-schnell"

# Internal codes from the Workers AI errors table; anything else is treated as transient.
_BY_CODE: dict[int, type[errors.ProviderError]] = {
    3040: errors.ProviderRateLimited,  # out of capacity
    3036: errors.ProviderQuotaExhausted,  # daily free allocation used up
    3007: errors.ProviderTimeout, 3008: errors.ProviderTimeout,
    3023: errors.ProviderAuthError, 3041: errors.ProviderAuthError, 5016: errors.ProviderAuthError,
    5018: errors.ProviderAuthError,
    3003: errors.ProviderInvalidRequest, 3006: errors.ProviderInvalidRequest, 3042: errors.ProviderInvalidRequest,
    5004: errors.ProviderInvalidRequest, 5005: errors.ProviderInvalidRequest, 5007: errors.ProviderInvalidRequest,
    5019: errors.ProviderInvalidRequest,
}
MAX_PROMPT = 2048


class WorkersAiProvider(ImageProvider):
    name = "workers-ai"
    capabilities = Capabilities(
        models=(MODEL,),
        default_model=MODEL,
        sizes=("1024x1024",),
        max_images_per_call=1,
        qualities=("low", "medium", "high", "auto"),
        output_formats=("jpeg",),
        external=False,
    )

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        assert ctx.ai is not None
        self.ai = ctx.ai

    def _steps(self, preq: ProviderRequest) -> int:
        # schnell is distilled for 1-4 steps; its maximum is 8. Quality buys steps.
        return {"low": 2, "medium": 4, "high": 8}.get(preq.quality or "", 4)

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        per_image = pricing.flux_schnell_micros(1024, 1024, self._steps(preq))
        return CostEstimate(per_image * preq.n, f"units: 4 tiles + {self._steps(preq)} steps x{preq.n}")

    def price_list(self) -> dict[str, Any]:
        return {"per_512_tile": pricing.FLUX_SCHNELL_MICROS_PER_TILE, "per_step": pricing.FLUX_SCHNELL_MICROS_PER_STEP}

    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        if len(preq.prompt) > MAX_PROMPT:
            raise errors.ProviderInvalidRequest(f"workers-ai takes prompts of at most {MAX_PROMPT} characters", provider=self.name)
        steps = self._steps(preq)
        try:
            output = await self.ai.run(preq.model, {"prompt": preq.prompt, "steps": steps})
        except errors.ImageWorkerError:
            raise
        except Exception as exc:  # noqa: BLE001 - the binding raises plain JS errors
            raise self._error(exc) from None
        data = decode_image(self.name, output.get("image") if isinstance(output, dict) else None)
        cost = pricing.flux_schnell_micros(1024, 1024, steps)
        return ProviderResult(
            images=[GeneratedImage(data, image_type(data) or "image/jpeg", 1024, 1024)], model=preq.model, cost_micros=cost,
            cost_basis=f"units: 4 tiles + {steps} steps", size="1024x1024", usage={"steps": steps},
        )

    def _error(self, exc: Exception) -> errors.ProviderError:
        """By the internal code the binding's error carries (Workers AI errors table)."""
        text = str(exc)[:300]
        found = re.search(r"\b([35]\d{3})\b", text)
        cls = _BY_CODE.get(int(found.group(1)) if found else 0, errors.ProviderUnavailable)
        return cls(f"workers-ai: {text}", provider=self.name, details={"provider_code": found.group(1) if found else None})

    async def probe(self) -> dict[str, Any]:
        # Any call to the binding runs the model (and bills it): report the passive view only.
        return {"ok": True, "detail": "binding present; no free probe exists"}


def build(ctx: ProviderContext) -> WorkersAiProvider | None:
    return WorkersAiProvider(ctx) if ctx.ai is not None else None
