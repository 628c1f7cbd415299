"""The Workers AI binding (env.AI), for the workers_ai provider."""

from __future__ import annotations

from typing import Any

from ..scope import current
from ..values import js_value, py_value


class WorkersAiBinding:
    """`env.AI.run(model, inputs)` with plain dicts in and out."""

    def __init__(self, name: str = "AI") -> None:
        self._name = name

    async def run(self, model: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """One model run."""
        return py_value(await current().binding(self._name).run(model, js_value(inputs)))
