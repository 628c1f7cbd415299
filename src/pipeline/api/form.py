"""multipart/form-data decoding, standard library only.

python-multipart is not shipped to the Worker (every package costs cold-start
time), and OpenAI's edits endpoint takes a form, so a small strict parser lives
here. It slices the body once; no part is copied twice."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import errors
from ..errors import MalformedBody
from . import body_limits

_PARAM = re.compile(r';\s*([a-zA-Z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
# The route's own limit (the Gate has cut a longer body already; this holds for any caller).
MAX_FORM_BYTES = body_limits.limit_of("images")

__all__ = ["FormPart", "MalformedBody", "header_params", "parse_form"]


@dataclass(frozen=True)
class FormPart:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None

    def text(self) -> str:
        try:
            return self.value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody(f"form field {self.name!r} is not UTF-8", details={"field": self.name}) from exc


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="a"; filename="b"` -> ("form-data", {"name": "a", "filename": "b"})."""
    main, _, rest = value.partition(";")
    params = {}
    for key, raw in _PARAM.findall(";" + rest):
        raw = raw.strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key.lower()] = raw
    return main.strip().lower(), params


def parse_form(body: bytes, content_type: str) -> list[FormPart]:
    """The parts of a multipart/form-data body, in order; MalformedBody if it is not one."""
    kind, params = header_params(content_type)
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise MalformedBody("expected multipart/form-data with a boundary")
    if len(body) > MAX_FORM_BYTES:
        raise errors.PayloadTooLarge(f"form body larger than {MAX_FORM_BYTES} bytes; upload large images first "
                                     "(POST /v1/uploads) and pass their ids", details={"max_bytes": MAX_FORM_BYTES})
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MalformedBody("multipart body is truncated or has no closing boundary")
    parts = []
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise MalformedBody("multipart part is not framed by CRLF")
        head, sep, value = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise MalformedBody("multipart part has no header block")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            key, colon, val = line.partition(":")
            if colon:
                headers[key.strip().lower()] = val.strip()
        disposition, dparams = header_params(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in dparams:
            raise MalformedBody("multipart part without Content-Disposition: form-data; name=...")
        parts.append(FormPart(dparams["name"], value, dparams.get("filename"), headers.get("content-type")))
    return parts
