"""A local stand-in for the Workers AI binding: the same port, the documented
output shape (`{"image": <base64>}`), a deterministic image, scriptable failures."""

from __future__ import annotations

import base64
from typing import Any

from pipeline.providers.placeholder import render_png


class FakeWorkersAI:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_with: list[Exception] = []  # raised by successive calls, then successes
        self.answer: dict[str, Any] | None = None  # overrides the output (malformed answers)

    async def run(self, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((model, dict(inputs)))
        if self.fail_with:
            raise self.fail_with.pop(0)
        if self.answer is not None:
            return self.answer
        png = render_png(f"{model}\x00{inputs.get('prompt')}\x00{inputs.get('steps')}".encode(), 1024, 1024)
        return {"image": base64.b64encode(png).decode()}
