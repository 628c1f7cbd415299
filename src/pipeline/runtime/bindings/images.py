"""The ImageTransformer port (ports.py) over the Cloudflare Images binding (`[images]` in
wrangler.toml; IMAGES is the R2 bucket, so this binding is IMAGE_TRANSFORMS). One
`input().transform().output()` chain per call, which Cloudflare bills as one transformation."""

from __future__ import annotations

from typing import Any

import js
from pyodide.ffi import JsException, to_js

from ... import errors
from ..scope import current
from ..values import as_bytes, js_value

IMAGES_BINDING = "IMAGE_TRANSFORMS"


class ImagesBindingTransformer:
    def __init__(self, name: str = IMAGES_BINDING) -> None:
        self._name = name

    async def transform(self, data: bytes, transform: dict[str, Any], output: dict[str, Any]) -> bytes:
        """The transformed image's bytes, or TransformFailed."""
        binding = current().binding(self._name)
        # `input` takes a ReadableStream; a Response over the bytes gives one with a known length.
        stream = js.Response.new(to_js(data)).body
        try:
            result = await binding.input(stream).transform(js_value(transform)).output(js_value(output))
            # Buffered: R2 `put` refuses a stream of unknown length (workers-sdk#6425).
            body = as_bytes(await result.response().arrayBuffer())
        except JsException as exc:
            raise errors.TransformFailed(f"the Images binding failed: {exc}") from None
        if not body:
            raise errors.TransformFailed("the Images binding returned no bytes")
        return body
