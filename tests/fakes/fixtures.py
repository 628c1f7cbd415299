"""Provider wire-format fixtures (tests/fixtures/<provider>/*.json), shared by the
fake servers and the assertions. `__IMAGE__`-style markers become base64 images."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load(provider: str, name: str, **images: bytes) -> Any:
    """`load("gemini", "success", IMAGE=png)`: the fixture with each `__IMAGE__` replaced."""
    text = (FIXTURES / provider / f"{name}.json").read_text()
    for marker, data in images.items():
        text = text.replace(f"__{marker}__", base64.b64encode(data).decode())
    return json.loads(text)
