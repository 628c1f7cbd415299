"""The fake batch APIs answer in exactly the formats the official SDKs parse: the real
openai 3.57.0 and google-genai 3.6.1 clients are pointed at them (as in
tests/test_provider_sdk_fixtures.py for the synchronous APIs), and every fixture in
tests/fixtures/openai-batch and gemini-batch is validated against the SDK's types."""

from __future__ import annotations

import json
import warnings

import pytest

from pipeline.providers.placeholder import render_png
from tests.fakes.batch_apis import GeminiBatchFake, OpenAIBatchFake
from tests.fakes.fixtures import FIXTURES, load

openai = pytest.importorskip("openai")
genai = pytest.importorskip("google.genai")
from google.genai import types as genai_types  # noqa: E402 - only once importorskip found the SDK

PNG = render_png(b"sdk", 64, 64)


def _no_extras(model, where="top"):
    extra = getattr(model, "model_extra", None) or {}
    assert not extra, f"fields the SDK does not define at {where}: {sorted(extra)}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(type(item), "model_fields"):
                _no_extras(item, f"{where}.{name}")


def test_openai_fixtures_are_the_sdk_types():
    from openai.types import Batch, FileObject

    _no_extras(FileObject.model_validate(load("openai-batch", "file_object") | {"id": "file-1", "filename": "x.jsonl"}))
    _no_extras(Batch.model_validate(load("openai-batch", "batch") | {"id": "batch_1", "input_file_id": "file-1"}))
    listed = load("openai-batch", "batch_list")
    assert set(listed) == {"object", "data", "first_id", "last_id", "has_more"}
    # result lines have no SDK type: the guide's {id, custom_id, response {status_code, request_id, body}, error}
    for name in ("output_line", "expired_line"):
        line = load("openai-batch", name)
        assert set(line) == {"id", "custom_id", "response", "error"}


def test_the_openai_sdk_runs_a_batch_against_the_fake(fake_server):
    server = fake_server()
    OpenAIBatchFake(server, PNG, polls_until_done=2)
    client = openai.OpenAI(api_key="sk-test", base_url=f"{server.url}/v1", max_retries=0)
    line = {"custom_id": "item-0", "method": "POST", "url": "/v1/images/generations",
            "body": {"model": "gpt-image-2.6-flare", "prompt": "a fox", "n": 1, "size": "1024x1024"}}
    uploaded = client.files.create(file=("pbt_1.jsonl", json.dumps(line).encode(), "application/jsonl"), purpose="batch")
    assert uploaded.filename == "pbt_1.jsonl" and uploaded.purpose == "batch"
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/images/generations",
                                  completion_window="24h", metadata={"image_worker_ref": "pbt_1"})
    assert batch.status == "validating" and batch.metadata == {"image_worker_ref": "pbt_1"}
    assert client.batches.retrieve(batch.id).status == "in_progress"
    done = client.batches.retrieve(batch.id)
    _no_extras(done)
    assert done.status == "completed" and done.request_counts.completed == 1 and done.output_file_id
    assert [b.id for b in client.batches.list(limit=100)] == [batch.id]
    out = client.files.content(done.output_file_id).text.splitlines()
    result = json.loads(out[0])
    images = openai.types.ImagesResponse.model_validate(result["response"]["body"])
    assert result["custom_id"] == "item-0" and images.usage is not None and images.data[0].b64_json


def test_gemini_fixtures_are_the_sdk_types():
    from google.genai import batches

    op = load("gemini-batch", "operation") | {"name": "batches/gen-1"}
    job = genai_types.BatchJob._from_response(response=batches._BatchJob_from_mldev(op), kwargs={})
    assert job.state == genai_types.JobState.JOB_STATE_PENDING
    entry = load("gemini-batch", "error_entry")
    assert genai_types.InlinedResponse.model_validate(entry).error.code == 3
    assert set(load("gemini-batch", "list")) <= {"operations", "nextPageToken"}


def test_the_gemini_sdk_runs_a_batch_against_the_fake(fake_server):
    server = fake_server()
    GeminiBatchFake(server, PNG, polls_until_done=2)
    client = genai.Client(api_key="gm-test", http_options={"base_url": server.url, "api_version": "v1beta"})
    job = client.batches.create(model="gemini-nano-banana-2.1", src=[
        {"contents": [{"parts": [{"text": "a castle"}], "role": "user"}],
         "config": {"response_modalities": ["IMAGE"]}, "metadata": {"key": "item-0~0"}}],
        config={"display_name": "pbt_2"})
    assert job.name.startswith("batches/") and job.display_name == "pbt_2"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert client.batches.get(name=job.name).state == genai_types.JobState.JOB_STATE_RUNNING
        done = client.batches.get(name=job.name)
    assert done.state == genai_types.JobState.JOB_STATE_SUCCEEDED
    response = done.dest.inlined_responses[0]
    assert response.metadata == {"key": "item-0~0"}
    assert response.response.candidates[0].content.parts[0].inline_data.data == PNG
    assert [j.display_name for j in client.batches.list(config={"page_size": 50})] == ["pbt_2"]


def test_every_batch_fixture_is_covered():
    names = {p.parent.name + "/" + p.stem for d in ("openai-batch", "gemini-batch") for p in (FIXTURES / d).glob("*.json")}
    assert names == {"openai-batch/file_object", "openai-batch/batch", "openai-batch/batch_list",
                     "openai-batch/output_line", "openai-batch/expired_line", "gemini-batch/operation",
                     "gemini-batch/list", "gemini-batch/error_entry"}
