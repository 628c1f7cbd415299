"""OpenAI Images API helpers shared by the tests: the settings that enable it, a success
body in its wire format, and a reader for the multipart edits it receives."""

from __future__ import annotations

import base64
from email.parser import BytesParser
from email.policy import HTTP

# The Worker's settings with OpenAI on and the free placeholder off (auto mode picks OpenAI).
OPENAI_ENV = {"OPENAI_API_KEY": "sk-test-secret-123", "PLACEHOLDER_ENABLED": "false"}

# A provider built directly (tests/providers) uses this key and these paths.
KEY = "sk-test-very-secret"
GENERATIONS, EDITS = "/v1/images/generations", "/v1/images/edits"


def openai_success(png: bytes) -> dict:
    """A `/v1/images/generations` answer carrying `png`, with the usage the API reports."""
    return {
        "created": 1713833628,
        "data": [{"b64_json": base64.b64encode(png).decode()}],
        "background": "opaque",
        "output_format": "png",
        "size": "1024x1024",
        "quality": "low",
        "usage": {
            "input_tokens": 50,
            "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
            "output_tokens": 272,
            "total_tokens": 322,
        },
    }


def form_parts(received) -> list[tuple[str, str | None, str, bytes]]:
    """A received multipart body as (name, filename, content type, bytes), in order."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {received.headers['content-type']}\r\n\r\n".encode() + received.body)
    return [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
            for p in message.iter_parts()]
