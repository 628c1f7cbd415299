"""Contract: every RPC operation answers exactly as its HTTP route does.

Two identical Workers run the same script of cases, one driven over HTTP (with
the API token), one over RPC (the trusted service binding); after ids and
timestamps are normalised, every answer must be the same, success or error."""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

import pytest

from local.queue import InProcessQueue
from pipeline.api import rpc
from pipeline.providers.placeholder import render_png

TOKEN = "contract-token"
PNG_B64 = __import__("base64").b64encode(render_png(b"in", 64, 64)).decode()

# (operation, argument). Ids produced earlier in the script are referred to as "$gen0", "$img0".
CASES: list[tuple[str, Any]] = [
    ("generate", {"prompt": "a lighthouse", "size": "256x256", "n": 2, "caller": "app-1",
                  "links": [{"entity_type": "scene", "entity_id": "s-1"}]}),
    ("generate", {"prompt": "", "n": 0}),
    ("generate", {"prompt": "x", "n": "lots"}),
    ("generate", {"prompt": "x", "size": "1x1"}),
    ("generate", {"prompt": "x", "unknown_field": 1}),
    ("generate", {"prompt": "x", "provider": "nope"}),
    ("edit", {"prompt": "add a moon", "images": [{"data_base64": PNG_B64}], "size": "256x256", "caller": "app-2"}),
    ("edit", {"prompt": "edit of nothing"}),
    ("edit", {"prompt": "bad base64", "images": [{"data_base64": "!!!"}]}),
    ("estimate", {"prompt": "a fox", "n": 3}),
    ("estimate", {"prompt": "a fox", "size": "256x256", "aspect_ratio": "1:1"}),
    ("get_generation", {"request_id": "$gen0"}),
    ("get_generation", {"request_id": "gen_missing"}),
    ("list_generations", {"caller": "app-1", "limit": 5}),
    ("list_generations", {"limit": 0}),
    ("list_generations", {}),
    ("link", {"image_id": "$img0", "entity_type": "character", "entity_id": "c-7", "caller": "app-1"}),
    ("link", {"image_id": "$img0", "entity_type": "character", "entity_id": "c-7", "caller": "app-1"}),
    ("link", {"image_id": "$img0", "entity_type": "character", "entity_id": "c-7"}),  # not the default caller's image
    ("link", {"image_id": "img_missing", "entity_type": "character", "entity_id": "c-7"}),
    ("link", {"image_id": "$img0", "entity_type": "planet", "entity_id": "p-1"}),
    ("entity_images", {"entity_type": "character", "entity_id": "c-7", "caller": "app-1"}),
    ("entity_images", {"entity_type": "scene", "entity_id": "s-1", "limit": 1, "caller": "app-1"}),
    ("entity_images", {"entity_type": "scene", "entity_id": "s-1"}),  # the default caller's scene: empty
    ("entity_images", {"entity_type": "nope", "entity_id": "x"}),
    ("unlink", {"image_id": "$img0", "entity_type": "character", "entity_id": "c-7", "caller": "app-1"}),
    ("unlink", {"image_id": "$img0", "entity_type": "character", "entity_id": "c-7", "caller": "app-1"}),
    ("get_budget", None),
    ("put_budget", {"daily_budget_micros": 5_000_000, "caller_daily_budget_micros": {"app-1": 1_000_000}}),
    ("put_budget", {}),
    ("put_budget", {"daily_budget_micros": -1}),
    ("get_budget", None),
    ("usage", {}),
    ("usage", {"from": "2026-13-45"}),
    ("usage", {"from": "2030-01-02", "to": "2030-01-01"}),
    ("providers", {}),
    ("health", None),
    ("estimate", {"prompt": ""}),
    ("preview_prompt", {"prompt": "a keeper", "context": {"kind": "portrait", "name": "Ana", "mood": "calm"}}),
    ("preview_prompt", {"prompt": ""}),
    ("get_image", {"image_id": "$img0"}),
    ("get_image", {"image_id": "img_missing"}),
    ("image_signed_url", {"image_id": "$img0"}),
    ("image_signed_url", {"image_id": "img_missing"}),
    ("list_images", {"status": "pending"}),
    ("list_images", {"status": "maybe"}),
    ("approve_image", {"image_id": "$img0", "reviewer": "rita"}),
    ("approve_image", {"image_id": "img_missing", "reviewer": "rita"}),
    ("reject_image", {"image_id": "$img1", "reviewer": "rita", "reason": "off model"}),
    ("reject_image", {"image_id": "img_missing", "reviewer": "rita", "reason": "x"}),
    ("approve_images", {"image_ids": ["$img0"], "reviewer": "rita"}),
    ("approve_images", {"image_ids": []}),
    ("reject_images", {"image_ids": ["$img1"], "reviewer": "rita", "reason": "again"}),
    ("reject_images", {"image_ids": "nope"}),
    ("set_primary_image", {"entity_type": "scene", "entity_id": "s-1", "role": "cover", "image_id": "$img0",
                           "caller": "app-1"}),
    ("set_primary_image", {"entity_type": "scene", "entity_id": "s-1", "role": "cover", "image_id": "$img0"}),
    ("set_primary_image", {"entity_type": "scene", "entity_id": "s-1", "role": "cover", "image_id": "img_missing"}),
    ("primary_images", {"entity_type": "scene", "entity_id": "s-1", "caller": "app-1"}),
    ("primary_images", {"entity_type": "scene", "entity_id": "s-1"}),
    ("primary_images", {"entity_type": "planet", "entity_id": "s-1"}),
    ("generate", {"prompt": "the same scene", "size": "256x256",
                  "references": [{"entity_type": "scene", "entity_id": "s-1", "role": "cover", "usage": "scene"}]}),
    ("entity_references", {"entity_type": "scene", "entity_id": "s-1"}),
    ("entity_references", {"entity_type": "planet", "entity_id": "s-1"}),
    ("clear_primary_image", {"entity_type": "scene", "entity_id": "s-1", "role": "cover", "caller": "app-1"}),
    ("clear_primary_image", {"entity_type": "planet", "entity_id": "s-1", "role": "cover"}),
    ("put_entity_context", {"entity_type": "character", "entity_id": "c-7", "kind": "portrait", "name": "Ana"}),
    ("put_entity_context", {"entity_type": "character", "entity_id": "c-7", "kind": "portrait", "name": "Bo",
                            "caller": "app-2"}),
    ("get_entity_context", {"entity_type": "character", "entity_id": "c-7", "caller": "app-2"}),
    ("put_entity_context", {"entity_type": "character", "entity_id": "c-7", "kind": "poem"}),
    ("get_entity_context", {"entity_type": "character", "entity_id": "c-7"}),
    ("get_entity_context", {"entity_type": "character", "entity_id": "c-unknown"}),
    ("openai_generate", {"prompt": "a lighthouse", "size": "256x256", "response_format": "url"}),
    ("openai_generate", {"prompt": "x", "model": "no-such-model"}),
    ("openai_edit", {"prompt": "add a moon", "images": [{"image_url": f"data:image/png;base64,{PNG_B64}"}],
                     "size": "256x256", "response_format": "url"}),
    ("openai_edit", {"prompt": "x"}),
    ("upload", {"content_type": "image/png", "data": PNG_B64}),
    ("upload", {"content_type": "image/png", "data": "bm90IGFuIGltYWdl"}),
    ("get_upload", {"upload_id": "$upl0"}),
    ("get_upload", {"upload_id": "upl_missing"}),
    ("upload_content", {"upload_id": "$upl0"}),
    ("upload_content", {"upload_id": "upl_missing"}),
    ("create_job", {"prompt": "a lighthouse", "size": "256x256"}),
    ("create_job", {"prompt": ""}),
    # b names a model no configured provider offers: it fails when it runs, and retry_batch has work
    ("create_batch", {"items": [{"prompt": "a", "size": "256x256"}, {"prompt": "b", "model": "gpt-image-2.6-flare"}]}),
    ("create_batch", {"items": []}),
    ("__drain__", None),  # the queue runs the job and the batch, in both Workers
    ("get_job", {"job_id": "$job0"}),
    ("get_job", {"job_id": "job_missing"}),
    ("get_batch", {"batch_id": "$bat0"}),
    ("get_batch", {"batch_id": "bat_missing"}),
    ("batch_events", {"batch_id": "$bat0"}),
    ("batch_events", {"batch_id": "bat_missing"}),
    ("retry_batch", {"batch_id": "$bat0"}),
    ("retry_batch", {"batch_id": "bat_missing"}),
    ("create_key", {"name": "web", "caller": "app-1", "daily_budget_micros": 1000}),
    ("create_key", {"name": "", "caller": "app-1"}),
    ("get_key", {"key_id": "$key0"}),
    ("get_key", {"key_id": "key_missing"}),
    ("list_keys", {"caller": "app-1"}),
    ("list_keys", {"limit": 0}),
    ("revoke_key", {"key_id": "$key0"}),
    ("revoke_key", {"key_id": "key_missing"}),
    ("list_prices", None),
    ("set_price", {"model": "gpt-image-2.6-flare", "rates": {"image_out": 1}, "reason": "test"}),
    ("set_price", {"model": "no-such-model", "rates": {"image_out": 1}}),
    ("price_history", {"model": "gpt-image-2.6-flare"}),
    ("clear_price", {"model": "gpt-image-2.6-flare", "reason": "test"}),
    ("clear_price", {"model": "no-such-model"}),
    ("delete_generation", {"request_id": "$gen0"}),
    ("delete_generation", {"request_id": "gen_missing"}),
]

# operations that take nothing that can be wrong
NO_FAILURE = {"get_budget", "providers", "health", "list_prices", "price_history"}
_ID = re.compile(r"\b(gen|img|bat|job|key|upl|prc)_[0-9A-Za-z]{26}\b")
_SECRET = re.compile(r"\biwk_[\w-]+")
_SIGNED = re.compile(r"(expires|signature|sig)=[^&\"]+")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
_VOLATILE = {"latency_ms", "p50_latency_ms", "max_latency_ms", "prefix", "created", "expires"}


def _normalise(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: ("~" if k in _VOLATILE else _normalise(v, ids)) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, ids) for v in value]
    if isinstance(value, str):
        value = _ID.sub(lambda m: ids.setdefault(m[0], f"{m[1]}#{len(ids)}"), value)
        value = _SIGNED.sub(lambda m: f"{m[1]}=~", _SECRET.sub("iwk_~", value))
        return _TIME.sub("<time>", value)
    return value


def _resolve(arg: Any, produced: dict[str, str]) -> Any:
    if isinstance(arg, dict):
        return {k: _resolve(v, produced) for k, v in arg.items()}
    if isinstance(arg, list):
        return [_resolve(v, produced) for v in arg]
    return produced.get(arg, arg) if isinstance(arg, str) else arg


def _remember(answer: dict[str, Any], produced: dict[str, str]) -> None:
    result = answer.get("result") or {}
    if not answer.get("ok") or not isinstance(result, dict):
        return
    if "images" in result and str(result.get("id", "")).startswith("gen_"):
        produced.setdefault("$gen0", result["id"])
        for i, image in enumerate(result["images"]):
            if isinstance(image, dict):  # (a deletion report lists ids)
                produced.setdefault(f"$img{i}", image["id"])
    for prefix in ("bat", "job", "key", "upl"):
        if str(result.get("id", "")).startswith(prefix + "_"):
            produced.setdefault(f"${prefix}0", result["id"])


async def _over_http(client: Any, name: str, arg: Any) -> dict[str, Any]:
    """The operation as an HTTP caller writes it, from the route table's method and path."""
    op = rpc.OPERATIONS[name]
    rest = dict(arg or {})
    path = op.path
    for p in op.params:
        path = path.replace("{" + p + "}", quote(str(rest.pop(p)), safe=""))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    if op.body == "bytes":
        headers["Content-Type"] = rest["content_type"]
        response = await client.request(op.method, path, content=base64.b64decode(rest["data"]), headers=headers)
    elif op.body:
        query = {k: rest.pop(k) for k in op.query if k in rest}
        response = await client.request(op.method, path, json=rest, params=query, headers=headers)
    else:
        query = {k: v if isinstance(v, str) else json.dumps(v) for k, v in rest.items()}
        response = await client.request(op.method, path, params=query, headers=headers)
    kind = response.headers.get("content-type", "").split(";")[0]
    if kind == "text/event-stream" and response.status_code < 400:
        return {"ok": True, "result": {"events": [
            {"event": block.split("\n")[0][7:], "data": json.loads(block.split("data: ", 1)[1])}
            for block in response.text.split("\n\n") if block.startswith("event: ")]}}
    if kind.startswith("image/") and response.status_code < 400:
        return {"ok": True, "result": {"content_type": kind, "etag": response.headers.get("etag"),
                                       "data_base64": base64.b64encode(response.content).decode()}}
    body = response.json()
    if response.status_code >= 400:
        return {"ok": False, "error": body["error"]}
    return {"ok": True, "result": body}


async def _run_script(drive, drain) -> list[Any]:
    produced: dict[str, str] = {}
    ids: dict[str, str] = {}
    answers = []
    for name, arg in CASES:
        if name == "__drain__":
            await drain()
            continue
        if name == "edit" and not (arg or {}).get("images"):
            continue  # RPC-only pre-check: over HTTP an edit is a generation with images (tested below)
        answer = await drive(name, _resolve(arg, produced))
        _remember(answer, produced)
        answers.append((name, _normalise(answer, ids)))
    return answers


async def test_rpc_and_http_give_the_same_answers(make_services, client_for):
    env = {"API_TOKEN": TOKEN, "IMAGE_URL_SECRET": "contract-url-secret", "PUBLIC_BASE_URL": "https://img.example.com", "WEBHOOK_SECRET": "whsec-contract-0123456789"}
    http_services = make_services(env, queue=InProcessQueue(paused=True))
    rpc_services = make_services(env, queue=InProcessQueue(paused=True))
    client = client_for(http_services)

    over_http = await _run_script(lambda name, arg: _over_http(client, name, arg), http_services.queue.run)
    over_rpc = await _run_script(lambda name, arg: rpc.call(rpc_services, name, arg), rpc_services.queue.run)

    assert len(over_http) == len(over_rpc) == len(CASES) - 2
    for (name, h), (_, r) in zip(over_http, over_rpc, strict=True):
        assert h == r, name
    # The script exercised both outcomes of every operation it names.
    outcomes = {(name, a["ok"]) for name, a in over_rpc}
    assert {n for n, ok in outcomes if ok} == set(rpc.OPERATIONS)
    assert {n for n, ok in outcomes if not ok} >= set(rpc.OPERATIONS) - NO_FAILURE


async def test_rpc_is_trusted_and_its_own_checks_use_the_error_shape(make_services):
    services = make_services({"API_TOKEN": TOKEN})
    ok = await rpc.call(services, "get_budget")
    assert ok["ok"] and "config" in ok["result"]  # no token: the service binding is trusted
    assert (await rpc.call(services, "edit", {"prompt": "x"}))["error"]["code"] == "invalid_request"
    assert (await rpc.call(services, "get_generation", 42))["error"]["code"] == "invalid_request"
    assert (await rpc.call(services, "nope"))["error"]["code"] == "not_found"
    by_id = await rpc.call(services, "get_generation", "gen_missing")  # the positional form
    assert by_id["error"]["code"] == "not_found"


async def test_an_http_caller_cannot_claim_to_be_the_service_binding(make_services, client_for):
    client = client_for(make_services({"API_TOKEN": TOKEN}))
    for header in ({"X-Image-Worker-Trusted": "1"}, {"image_worker.trusted": "true"}):
        response = await client.get("/v1/budget", headers=header)
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("name", sorted(rpc.OPERATIONS))
def test_every_operation_is_a_documented_route(make_services, name):
    from pipeline.api.app import create_app

    doc = create_app(make_services()).openapi()
    op = rpc.OPERATIONS[name]
    assert op.method.lower() in doc["paths"][op.path]


def test_the_typescript_types_are_generated_from_the_current_models():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen_types", root / "scripts" / "gen_types.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    text = gen.render()
    assert (root / "types" / "index.d.ts").read_text() == text, "run scripts/gen-types"
    for name in rpc.OPERATIONS:
        assert f"  {name}(" in text
