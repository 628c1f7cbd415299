"""The README's examples run as written, against the open local server (no API_TOKEN,
no keys, only the placeholder provider) that `scripts/serve` starts: each shell command,
the OpenAI SDK snippet, and the JSON shapes. The only change made to them is the port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.models import ErrorResponse, GenerationRequest
from tests.fakes.uvicorn_server import start_server

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Commands of the quick start that are not examples of the API: the server the test
# stands in for, and the test suite itself.
NOT_API = ("scripts/serve", "scripts/test")


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def shell_commands() -> list[str]:
    commands = []
    for block in blocks("sh"):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = command.split("  #", 1)[0].strip()
            if command and not command.startswith(NOT_API):
                commands.append(command)
    return commands


@pytest.fixture
def open_server(make_services):
    base, stop = start_server(make_services({"PLACEHOLDER_ENABLED": "true"}))
    yield base
    stop()


def _on(base: str, text: str) -> str:
    port = base.rsplit(":", 1)[1]
    return re.sub(r"(localhost|127\.0\.0\.1):8787", f"127.0.0.1:{port}", text)


def test_the_readme_has_the_examples_this_test_runs():
    assert len(shell_commands()) >= 2 and len(blocks("python")) >= 1 and len(blocks("json")) >= 2


def test_each_shell_example_runs(open_server):
    for command in shell_commands():
        assert command.startswith("curl "), command
        run = subprocess.run(_on(open_server, command), shell=True, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (command, run.stderr)
        if "stream=true" in command:
            assert "event: completed" in run.stdout, run.stdout[-2000:]
        else:
            result = json.loads(run.stdout)
            assert result.get("status") == "succeeded" and result["images"], run.stdout[:2000]


def test_the_consistent_characters_example_runs(open_server):
    """The `bash` block runs as one script (its steps share a variable): approve an image, make
    it the primary, generate with it as a reference; the last answer records that reference."""
    (script,) = blocks("bash")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", _on(open_server, script)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(_last_json(run.stdout))
    assert result["status"] == "succeeded" and result["images"], run.stdout[-2000:]
    (used,) = result["references"]
    assert (used["entity_type"], used["entity_id"], used["role"]) == ("character", "ada", "portrait") and used["image_id"]


def _last_json(text: str) -> str:
    """The last JSON object of concatenated curl outputs (each answer is one object)."""
    decoder, objects, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = decoder.raw_decode(text, i)
        objects.append(obj)
    return json.dumps(objects[-1])


def test_the_openai_sdk_example_runs(open_server, tmp_path):
    (snippet,) = blocks("python")
    script = tmp_path / "example.py"
    script.write_text(_on(open_server, snippet))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OPENAI_API_KEY": ""})
    assert run.returncode == 0, run.stderr[-3000:]
    url, cost = run.stdout.split()
    assert url.startswith(open_server + "/v1/images/img_") and int(cost) == 0  # the placeholder is free


def test_the_json_examples_are_the_shapes_the_api_takes_and_gives():
    request, error = blocks("json")
    body = json.loads(request)
    assert set(body) <= set(GenerationRequest.model_fields)
    ErrorResponse.model_validate(json.loads(error))


async def test_an_upload_answers_a_location_that_exists(make_services, client_for):
    from pipeline.providers.placeholder import render_png

    client = client_for(make_services({"PLACEHOLDER_ENABLED": "true"}))
    png = render_png(b"upload", 64, 48)
    created = await client.post("/v1/uploads", content=png, headers={"content-type": "image/png",
                                                                     "Authorization": "Bearer anything"})
    assert created.status_code == 201, created.text
    record = await client.get(created.headers["location"])
    assert record.status_code == 200 and record.json()["id"] == created.json()["id"]
    assert (record.json()["width"], record.json()["height"], record.json()["byte_size"]) == (64, 48, len(png))
    content = await client.get(created.headers["location"] + "/content")
    assert content.content == png and content.headers["content-type"] == "image/png"
