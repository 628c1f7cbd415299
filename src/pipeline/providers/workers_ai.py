"""Workers AI through the `AI` binding (models in catalog/workers_ai.py).

No external key: the binding is the credential. Each model has its own input
shape (`WIRES`): FLUX.1 [schnell] takes `{prompt, steps}` and draws 1024x1024;
Lucid Origin takes `{prompt, width, height, num_steps}`. Both answer
`{image: <base64>}`; one image per call. Under CPython the same AiBinding port
is served by local/workers_ai.py."""

from __future__ import annotations

import re
from typing import Any

from .. import errors
from .. import sizes
from ..catalog import pricing, workers_ai as workers_ai_catalog
from ..inspect_image import image_type
from .base import (
    Capabilities,
    CostEstimate,
    GeneratedImage,
    ImageProvider,
    ProviderContext,
    ProviderRequest,
    ProviderResult,
    decode_image,
)

MODEL = workers_ai_catalog.CATALOG.defaults["cost"]  # FLUX.1 [schnell]


def _flux_schnell(prompt: str, w: int, h: int, steps: int) -> dict[str, Any]:
    return {"prompt": prompt, "steps": steps}  # no width/height: always 1024x1024


def _leonardo(prompt: str, w: int, h: int, steps: int) -> dict[str, Any]:
    return {"prompt": prompt, "width": w, "height": h, "num_steps": steps}


WIRES = {"flux_schnell": _flux_schnell, "leonardo": _leonardo}

# Internal codes from the Workers AI errors table; anything else is treated as transient.
_BY_CODE: dict[int, type[errors.ProviderError]] = {
    3040: errors.ProviderRateLimited,  # out of capacity
    3036: errors.ProviderQuotaExhausted,  # daily free allocation used up
    3007: errors.ProviderTimeout, 3008: errors.ProviderTimeout,
    3023: errors.ProviderAuthError, 3041: errors.ProviderAuthError, 5016: errors.ProviderAuthError,
    5018: errors.ProviderAuthError,
    3003: errors.ProviderInvalidRequest, 3006: errors.ProviderInvalidRequest, 3042: errors.ProviderInvalidRequest,
    5004: errors.ProviderInvalidRequest, 5005: errors.ProviderInvalidRequest,
    5007: errors.ModelUnavailable,  # no such model: retired or renamed
    5019: errors.ProviderInvalidRequest,
}
MAX_PROMPT = 2048


class WorkersAiProvider(ImageProvider):
    name = "workers-ai"
    kind = "workers-ai"
    capabilities = Capabilities(models=(), default_model="", external=False)

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        assert ctx.ai is not None
        self.ai = ctx.ai

    def _steps(self, preq: ProviderRequest) -> int:
        # Quality buys steps (schnell: distilled for 1-4, at most 8); the table is catalog data.
        table = self.spec(preq.model).estimate
        return table.get(preq.quality or "auto", table.get("auto", 4))

    def _cost(self, preq: ProviderRequest, steps: int) -> int:
        rates = self.rates(preq.model)
        w, h = sizes.parse(preq.size)
        return pricing.tiles(w, h) * rates.get("per_tile", 0) + steps * rates.get("per_step", 0)

    def estimate(self, preq: ProviderRequest) -> CostEstimate:
        steps = self._steps(preq)
        w, h = sizes.parse(preq.size)
        return CostEstimate(self._cost(preq, steps) * preq.n,
                            f"units: {pricing.tiles(w, h)} tiles + {steps} steps x{preq.n}")

    async def _generate(self, preq: ProviderRequest) -> ProviderResult:
        if len(preq.prompt) > MAX_PROMPT:
            raise errors.ProviderInvalidRequest(f"workers-ai takes prompts of at most {MAX_PROMPT} characters", provider=self.name)
        steps = self._steps(preq)
        w, h = sizes.parse(preq.size)
        inputs = WIRES[self.spec(preq.model).wire](preq.prompt, w, h, steps)
        try:
            output = await self.ai.run(preq.model, inputs)
        except errors.ImageWorkerError:
            raise
        except Exception as exc:  # noqa: BLE001 - the binding raises plain JS errors
            raise self._error(exc) from None
        data = decode_image(self.name, output.get("image") if isinstance(output, dict) else None)
        return ProviderResult(
            images=[GeneratedImage(data, image_type(data) or "image/jpeg", w, h)], model=preq.model,
            cost_micros=self._cost(preq, steps), cost_basis=f"units: {pricing.tiles(w, h)} tiles + {steps} steps",
            size=preq.size, usage={"steps": steps},
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
