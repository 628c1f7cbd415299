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
