"""One code per mistake on every door, and every code the API can answer is in the README."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline import errors

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": "Bearer tok-admin"}
JSON = {**ADMIN, "content-type": "application/json"}


def _codes_in_source() -> set[str]:
    """Every code an error class declares, the HTTP layer's table, and any code literal
    written straight into an error body anywhere in src/pipeline."""
    codes = {c.code for c in errors._subclasses(errors.ImageWorkerError)}
    codes |= set(errors.HTTP_CODES.values()) | {errors.HTTP_ERROR}
    for path in (ROOT / "src" / "pipeline").rglob("*.py"):
        codes |= set(re.findall(r'"code":\s*"([a-z_]+)"', path.read_text()))
    return codes


def test_every_code_is_in_the_readmes_error_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| code | HTTP | meaning |"):]
    table = table[:table.index("\n\n")]
    listed = set(re.findall(r"`([a-z_]+)`", "\n".join(line.split("|")[1] for line in table.splitlines()[2:])))
    found = _codes_in_source()
    assert len(found) > 20
    assert found - listed == set(), "codes the API answers but the README's table does not list"
    assert listed - found == set(), "codes the README lists that nothing answers"


async def test_an_unknown_model_is_the_same_code_on_both_doors(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "PLACEHOLDER_ENABLED": "true"}))
    native = await client.post("/v1/generations", json={"prompt": "a fox", "model": "dall-e-9"}, headers=ADMIN)
    openai = await client.post("/v1/images/generations", json={"prompt": "a fox", "model": "dall-e-9"}, headers=ADMIN)
    assert native.status_code == openai.status_code == 422
    assert native.json()["error"]["code"] == openai.json()["error"]["code"] == "unsupported"
    assert "dall-e-9" in native.json()["error"]["message"] and "dall-e-9" in openai.json()["error"]["message"]


async def test_bad_utf8_is_malformed_body_on_every_door(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "PLACEHOLDER_ENABLED": "true"}))
    bad = b'{"prompt": "\xff\xfe"}'
    for method, path in (("POST", "/v1/generations"), ("POST", "/v1/images/generations"), ("POST", "/v1/images/edits"),
                         ("POST", "/v1/estimate"), ("POST", "/v1/batches"), ("PUT", "/v1/budget"), ("POST", "/v1/keys")):
        response = await client.request(method, path, content=bad, headers=JSON)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == "malformed_body", (path, response.text)
    form = (b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n\xff\xfe\r\n'
            b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nxx\r\n--b--\r\n')
    response = await client.post("/v1/images/edits", content=form,
                                 headers={**ADMIN, "content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body", response.text


async def test_limits_scope_and_depth_are_checked_before_the_body_is_parsed(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin", "PLACEHOLDER_ENABLED": "true"})
    client = client_for(services)
    created = await client.post("/v1/keys", json={"name": "reader", "caller": "alice", "scopes": ["read"]}, headers=ADMIN)
    reader = {"Authorization": f"Bearer {created.json()['key']}", "content-type": "application/json"}
    deep = b"[" * 10_000 + b"]" * 10_000
    refused = await client.post("/v1/generations", content=deep, headers=reader)
    assert refused.status_code == 403 and refused.json()["error"]["details"]["required_scope"] == "generate"
    nested = await client.post("/v1/generations", content=deep, headers=JSON)
    assert nested.status_code == 400 and nested.json()["error"]["details"]["max_depth"] == 64
    ok_depth = b'{"prompt": "x", "links": ' + b"[" * 63 + b"]" * 63 + b"}"
    assert (await client.post("/v1/estimate", content=ok_depth, headers=JSON)).status_code == 422  # parsed, then judged
    big = b'{"name": "' + b"a" * (1024 * 1024) + b'"}'
    too_large = await client.post("/v1/keys", content=big, headers=JSON)
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b" " * (1024 * 1024)

    chunked = await client.post("/v1/generations", content=chunks(), headers=JSON)
    assert chunked.status_code == 413 and chunked.json()["error"]["details"]["max_bytes"] > 11 * 1024 * 1024
