"""The OpenAPI document links what an operation creates to the operations that read it, and
the links work: followed against the real app, each reaches the created object (not a 404)."""

from __future__ import annotations

ADMIN = {"Authorization": "Bearer tok-admin"}


def _resolve(body: dict, expression: str) -> str:
    """A `$response.body#/a/0/b` expression against a JSON body."""
    value = body
    for part in expression.removeprefix("$response.body#/").split("/"):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return str(value)


async def test_links_from_a_created_generation_reach_its_reads(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": "tok-admin", "PLACEHOLDER_ENABLED": "true"}))
    doc = (await client.get("/openapi.json")).json()
    operations = {op["operationId"]: (method, path) for path, item in doc["paths"].items() for method, op in item.items()}
    links = doc["paths"]["/v1/generations"]["post"]["responses"]["201"]["links"]
    assert {"GetGeneration", "GetImage", "SignedUrl"} <= set(links)
    for created in ("/v1/keys", "/v1/uploads"):
        assert doc["paths"][created]["post"]["responses"]["201"]["links"]
    for created in ("/v1/batches", "/v1/jobs"):
        assert doc["paths"][created]["post"]["responses"]["202"]["links"]
    made = await client.post("/v1/generations", json={"prompt": "a lighthouse", "provider": "placeholder"}, headers=ADMIN)
    assert made.status_code == 201, made.text
    for name in ("GetGeneration", "GetImage", "SignedUrl"):
        method, path = operations[links[name]["operationId"]]
        assert method == "get"
        (param, expression), = links[name]["parameters"].items()
        answer = await client.get(path.replace("{" + param + "}", _resolve(made.json(), expression)), headers=ADMIN)
        assert answer.status_code == 200, (name, answer.text)
