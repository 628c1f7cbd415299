"""multipart/form-data encoding, standard library only (OpenAI's edits endpoint)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class FilePart:
    filename: str
    content_type: str
    data: bytes


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


def encode(fields: list[tuple[str, str | FilePart]]) -> tuple[bytes, str]:
    """Encode (name, value) pairs in order; returns (body, content-type header)."""
    boundary = "----imageworker" + secrets.token_hex(12)
    out: list[bytes] = []
    for name, value in fields:
        out.append(f"--{boundary}\r\n".encode())
        if isinstance(value, FilePart):
            out.append(
                f'Content-Disposition: form-data; name="{_quote(name)}"; filename="{_quote(value.filename)}"\r\n'
                f"Content-Type: {value.content_type}\r\n\r\n".encode()
            )
            out.append(value.data)
        else:
            out.append(f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode())
            out.append(str(value).encode())
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out), f"multipart/form-data; boundary={boundary}"
