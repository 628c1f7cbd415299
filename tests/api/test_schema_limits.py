"""Every path parameter, query parameter and request-body field has its limits in the
OpenAPI document, so a long or NUL-containing value is refused by validation (422) before
a route runs: never a 500 from D1, never an unbounded read."""

from __future__ import annotations

import re
from typing import Any

_UNBOUNDED = re.compile(r"(?<!\\)[*+]|\{\d+,\}")  # a pattern that lets any length through


def _bounded_string(schema: dict[str, Any]) -> bool:
    if {"maxLength", "enum", "const"} & set(schema) or schema.get("format") in ("binary", "date", "date-time"):
        return True
    return "pattern" in schema and not _UNBOUNDED.search(schema["pattern"])


def _problems(schema: dict[str, Any], where: str, components: dict[str, Any], seen: set[str]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _problems(components[name], name, components, seen)
    found: list[str] = []
    # A bound beside `anyOf` (pydantic's place for `str | None` with json_schema_extra) holds for each option.
    inherited = {k: schema[k] for k in ("maxLength", "pattern", "enum") if k in schema}
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            if "type" in option or "$ref" in option or "anyOf" in option:  # not a "which fields are given" rule
                found += _problems({**inherited, **option} if "type" in option else option, where, components, seen)
    kind = schema.get("type")
    if kind == "string" and not _bounded_string(schema):
        found.append(f"{where}: a string without maxLength")
    if kind == "array":
        if "maxItems" not in schema:
            found.append(f"{where}: an array without maxItems")
        found += _problems(schema.get("items", {}), f"{where}[]", components, seen)
    for name, sub in schema.get("properties", {}).items():
        found += _problems(sub, f"{where}.{name}", components, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        found += _problems(schema["additionalProperties"], f"{where}.*", components, seen)
    return found


async def test_every_parameter_and_body_field_is_bounded_in_the_document(make_services, client_for):
    doc = (await client_for(make_services()).get("/openapi.json")).json()
    components = doc["components"]["schemas"]
    problems: list[str] = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                problems += _problems(param.get("schema", {}), f"{method.upper()} {path} {param['name']}", components, set())
            for kind, content in op.get("requestBody", {}).get("content", {}).items():
                problems += _problems(content.get("schema", {}), f"{method.upper()} {path} ({kind})", components, set())
    assert problems == []


async def test_a_path_id_with_a_nul_or_too_long_is_422_on_every_id_route(make_services, client_for):
    client = client_for(make_services())
    doc = (await client.get("/openapi.json")).json()
    for path, item in doc["paths"].items():
        if "{" not in path:
            continue
        for method in item:
            for bad in ("a\x00b", "x" * 300):
                url = re.sub(r"\{entity_type\}", "character", path)
                url = re.sub(r"\{[^}]+\}", bad.replace("\x00", "%00"), url)
                answer = await client.request(method.upper(), url, json={})
                assert answer.status_code in (403, 405, 422) and answer.status_code != 500, (method, url, answer.text)
                if answer.status_code == 422:
                    assert answer.json()["error"]["code"] in ("invalid_request", "malformed_body")
