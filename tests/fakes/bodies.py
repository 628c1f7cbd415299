"""Hostile request bodies, for the body fuzz of every body-taking route (tests/api and
tests/workerd): nesting in every field, 10^5 keys, 10 MB strings, huge numbers, bad
UTF-8, and every content type. Each case is (name, content type or None, body bytes)."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

Case = tuple[str, "str | None", bytes]

DEEP = 10_000  # 20 KB of brackets: deep enough to kill a Pyodide isolate that parses it
# A body that parses: it names the free local provider, so no case reaches a real one (or its
# credentials: a token fetched here would be cached for the tests that follow).
PLAIN = b'{"prompt": "x", "provider": "placeholder"}'
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def deep_array(levels: int = DEEP) -> bytes:
    return b"[" * levels + b"]" * levels


def deep_object(levels: int = DEEP) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def body_operations(doc: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(METHOD, concrete path, the body's top-level field names) of every operation of an
    OpenAPI document that takes a request body; path parameters get plausible values."""
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            fields: list[str] = []
            for media in op["requestBody"].get("content", {}).values():
                fields += list(_properties(doc, media.get("schema", {})))
            concrete = _PARAM.sub(lambda m: "character" if m[1] == "entity_type" else f"x-{m[1]}", path)
            out.append((method.upper(), concrete, list(dict.fromkeys(fields))))
    return out


def _properties(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc.get("components", {}).get("schemas", {}).get(name, {})
        seen += 1
    props = dict(schema.get("properties", {}))
    for sub in schema.get("allOf", []) + schema.get("anyOf", []):
        props.update(_properties(doc, sub))
    return props


def cases(fields: list[str], *, big: bool = True) -> Iterator[Case]:
    """The shapes for one route. `big`: also the megabyte bodies (10^5 keys, 10 MB strings)."""
    json_type = "application/json"
    yield "deep arrays", json_type, deep_array()
    yield "deep objects", json_type, deep_object()
    yield "deep arrays, no closing", json_type, b"[" * DEEP
    yield "deep in a string is fine", json_type, json.dumps({"prompt": "[" * DEEP, "provider": "placeholder"}).encode()
    for field in fields or ["prompt"]:
        yield f"deep arrays in {field}", json_type, b'{"%s":' % field.encode() + deep_array() + b"}"
        yield f"deep objects in {field}", json_type, b'{"%s":' % field.encode() + deep_object() + b"}"
        yield f"huge number in {field}", json_type, b'{"%s":%s}' % (field.encode(), b"9" * 5000)
        yield f"huge exponent in {field}", json_type, b'{"%s":1e999999}' % field.encode()
        yield f"lone surrogate in {field}", json_type, b'{"%s":"\\ud800"}' % field.encode()
        yield f"bad UTF-8 in {field}", json_type, b'{"%s":"\xff\xfe"}' % field.encode()
    yield "bad UTF-8", json_type, b'{"prompt": "\xc3\x28"}'
    yield "UTF-16", json_type, '{"prompt": "x"}'.encode("utf-16")
    yield "NUL bytes", json_type, b'{"prompt": "a\x00b"}\x00'
    yield "not JSON", json_type, b"{"
    yield "empty", json_type, b""
    yield "a scalar", json_type, b"12"
    if big:
        keys = b"{" + b",".join(b'"k%d":0' % i for i in range(100_000)) + b"}"
        yield "10^5 keys", json_type, keys
        yield "10 MB string", json_type, json.dumps({(fields or ["prompt"])[0]: "a" * 10_000_000}).encode()
        yield "10 MB of escapes", json_type, b'{"prompt":"' + b'\\"' * 5_000_000 + b'"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/octet-stream",
                         "image/png", "multipart/form-data", "multipart/form-data; boundary=b",
                         "application/json; charset=latin-1", "application/problem+json", None):
        yield f"content type {content_type}", content_type, PLAIN
    yield "a broken form", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data\r\n\r\nx"
    yield "a form with deep JSON", "multipart/form-data; boundary=b", (
        b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n' + deep_array() + b"\r\n--b--\r\n")
