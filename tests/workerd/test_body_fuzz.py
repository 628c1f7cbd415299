"""Hostile bodies on every body-taking route, in real workerd, where a parser's recursion
(10,000 nested arrays in 20 KB) kills the isolate and every request after it. Never a
5xx, the isolate stays up, and the log shows no killed isolate (conftest's defect scan
fails on `abortIsolate` / `Maximum call stack`). Bodies are refused before they are read:
a larger Content-Length unread, a chunked one cut at the route's limit, a key without the
route's scope before a byte is read."""

from __future__ import annotations

import httpx

from pipeline.api.app import create_app
from tests.fakes import bodies
from tests.workerd.conftest import AUTH

MB = 1024 * 1024


def test_no_body_shape_gives_a_5xx_or_kills_the_isolate(http):
    # The document of the code under test, built here: the same routes the Worker serves.
    operations = bodies.body_operations(create_app().openapi())
    assert len(operations) >= 20
    failures, seen = [], 0
    for method, path, fields in operations:
        for name, content_type, body in bodies.cases(fields, big=path == "/v1/generations"):
            headers = {"content-type": content_type} if content_type else {}
            response = http.request(method, path, content=body, headers=headers)
            seen += 1
            if response.status_code >= 500:
                failures.append((method, path, name, response.status_code, response.text[:200]))
            elif name.startswith("bad UTF-8") and path != "/v1/uploads":
                assert response.json()["error"]["code"] == "malformed_body", (method, path, name)
    assert failures == []
    assert http.get("/v1/health").status_code == 200  # the same isolate still serves
    assert seen > 500


def test_a_large_body_is_refused_before_it_is_read(worker):
    # One connection per request: a body refused unread leaves its connection unusable (the
    # client was still sending), so a keep-alive client's next request on it would fail.
    def post(path, content):
        return httpx.post(worker.url + path, content=content, timeout=60,
                          headers={**AUTH, "content-type": "application/json"})

    big = b"{" + b" " * (30 * MB) + b"}"
    declared = post("/v1/generations", big)
    assert declared.status_code == 413, declared.text
    assert declared.json()["error"]["code"] == "payload_too_large"

    def chunks():  # no Content-Length: chunked transfer, counted while read
        for _ in range(30):
            yield b" " * MB

    chunked = post("/v1/keys", chunks())
    assert chunked.status_code == 413, chunked.text
    assert chunked.json()["error"]["details"]["max_bytes"] == 1024 * 1024
    assert httpx.get(worker.url + "/v1/health", timeout=30).status_code == 200


def test_a_read_only_key_is_refused_before_its_body_is_parsed(http, worker):
    created = http.post("/v1/keys", json={"name": "reader", "caller": "alice", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    reader = {"Authorization": f"Bearer {created.json()['key']}"}
    for path in ("/v1/generations", "/v1/budget", "/v1/images/generations"):
        method = "PUT" if path == "/v1/budget" else "POST"
        response = httpx.request(method, worker.url + path, content=bodies.deep_array(), timeout=60,
                                 headers={**reader, "content-type": "application/json"})
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    assert httpx.get(worker.url + "/v1/health", headers=AUTH, timeout=30).status_code == 200
