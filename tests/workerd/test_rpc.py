"""The RPC surface called the way the app calls it: from a JS Worker, over a service
binding, in the same workerd."""

from __future__ import annotations


def test_generate_get_estimate_providers_over_a_service_binding(rpc):
    made = rpc("generate", {"prompt": "a castle", "provider": "placeholder", "model": None, "n": 2, "caller": "app"})
    assert made["ok"] is True, made
    result = made["result"]
    assert result["status"] == "succeeded" and len(result["images"]) == 2 and result["caller"] == "app"
    fetched = rpc("get_generation", result["id"])
    assert fetched == {"ok": True, "result": result}

    estimate = rpc("estimate", {"prompt": "a castle", "size": "1024x1024"})
    assert estimate["ok"] and {e["provider"] for e in estimate["result"]["estimates"]} >= {"openai", "gemini"}
    providers = rpc("providers")
    assert providers["ok"] and {p["name"] for p in providers["result"]["providers"]} >= {"openai", "gemini", "placeholder"}


def test_rpc_errors_have_the_http_error_shape(rpc):
    invalid = rpc("generate", {"prompt": ""})
    assert invalid["ok"] is False and invalid["error"]["code"] == "invalid_request"
    assert set(invalid["error"]) >= {"code", "message", "retryable"}
    missing = rpc("get_generation", "gen_missing")
    assert missing == {"ok": False, "error": missing["error"]} and missing["error"]["code"] == "not_found"
    not_an_object = rpc("generate", "just a string")
    assert not_an_object["ok"] is False and not_an_object["error"]["code"] == "invalid_request"


def test_every_operation_is_a_method_of_the_entrypoint(rpc):
    """Each name of the one table (pipeline.api.rpc.OPERATIONS) answers over the binding in
    the `{ok, ...}` shape: called with an empty object, it either works or names what is missing."""
    from pipeline.api.rpc import OPERATIONS

    for name in OPERATIONS:
        answer = rpc(name, {})
        assert isinstance(answer, dict) and "ok" in answer, (name, answer)
        if not answer["ok"]:
            assert answer["error"]["code"] in ("invalid_request", "not_found", "unauthorized"), (name, answer)


def test_new_operations_over_the_binding_keys_uploads_images_jobs(rpc):
    import base64

    from pipeline.providers.placeholder import render_png

    key = rpc("create_key", {"name": "app-web", "caller": "reader", "scopes": ["read"]})
    assert key["ok"] and key["result"]["key"].startswith("iwk_"), key
    assert rpc("get_key", key["result"]["id"])["result"]["caller"] == "reader"
    assert rpc("revoke_key", key["result"]["id"])["ok"]

    png = render_png(b"rpc-upload", 32, 24)
    uploaded = rpc("upload", {"content_type": "image/png", "data": base64.b64encode(png).decode()})
    assert uploaded["ok"] and uploaded["result"]["width"] == 32 and uploaded["result"]["height"] == 24, uploaded

    made = rpc("generate", {"prompt": "a harbour", "provider": "placeholder", "caller": "app"})
    image = made["result"]["images"][0]
    got = rpc("get_image", image["id"])
    assert got["ok"] and got["result"]["content_type"] == image["content_type"], got
    assert base64.b64decode(got["result"]["data_base64"])[:8] == b"\x89PNG\r\n\x1a\n"
    listed = rpc("list_images", {"limit": 5})
    assert listed["ok"] and "items" in listed["result"], listed
