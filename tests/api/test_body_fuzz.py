"""Every body-taking route, under CPython, against hostile bodies (tests/fakes/bodies.py):
never a 5xx, and a refused body answers in the one error shape with its code. The same
fuzz runs in workerd (tests/workerd/test_body_fuzz.py), where a parser's recursion kills
the isolate."""

from __future__ import annotations

from pipeline.api.app import create_app
from tests.fakes import bodies

ADMIN = {"Authorization": "Bearer tok-admin"}


async def test_no_body_shape_gives_a_5xx_on_any_route(make_services, client_for):
    services = make_services({"API_TOKEN": "tok-admin", "PLACEHOLDER_ENABLED": "true"})
    client = client_for(services)
    operations = bodies.body_operations(create_app(services).openapi())
    assert len(operations) >= 20, operations  # every body-taking route of the document
    failures, deep_refused = [], 0
    for method, path, fields in operations:
        for name, content_type, body in bodies.cases(fields, big=path in ("/v1/generations", "/v1/keys")):
            headers = {**ADMIN, **({"content-type": content_type} if content_type else {})}
            response = await client.request(method, path, content=body, headers=headers)
            if response.status_code >= 500:
                failures.append((method, path, name, response.status_code, response.text[:200]))
                continue
            if response.status_code >= 400:
                error = response.json()["error"]
                assert set(error) >= {"code", "message", "retryable"}, (path, name, error)
            if name.startswith("deep") and "string" not in name and response.status_code == 400:
                assert response.json()["error"]["code"] == "malformed_body", (path, name)
                deep_refused += 1
            if name.startswith("bad UTF-8") and path != "/v1/uploads":  # an upload is bytes, not text
                assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_body", \
                    (method, path, name, response.text[:200])
    assert failures == []
    assert deep_refused >= len(operations)  # at least the top-level deep bodies, on every JSON route
