"""The review console and /docs as the Worker serves them in workerd (the files ship as
text modules: wrangler.toml's rules), and the JSON log lines on the Workers log."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "src" / "pipeline" / "console"


def test_the_console_its_assets_and_the_docs_are_served(http):
    page = http.get("/console")
    assert page.status_code == 200 and "<title>Image worker · console</title>" in page.text
    assert http.get("/console", headers={"If-None-Match": page.headers["etag"]}).status_code == 304
    for name in ("console.js", "console.css"):
        url = re.search(rf'"(/console/{re.escape(name)}\?v=[0-9a-f]+)"', page.text).group(1)
        asset = http.get(url)
        assert asset.status_code == 200 and asset.content == (CONSOLE / name).read_bytes()
        assert "immutable" in asset.headers["cache-control"]
    docs = http.get("/docs")
    assert docs.status_code == 200 and "/console/docs.js?v=" in docs.text
    assert http.get("/").headers["location"] == "/console"


def test_one_json_line_per_request_on_the_workers_log(http, worker):
    # pipeline.logs writes to stdout, which workerd passes on as the Workers log (dev.out here).
    before = len(worker.out.read_text(errors="replace"))
    missing = http.get("/v1/generations/gen_01M8RMZ5BCAPZNAQBW36528C59")
    assert missing.status_code == 404
    deadline = time.monotonic() + 10
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        for raw in worker.out.read_text(errors="replace")[before:].splitlines():
            start = raw.find('{"event":"request"')
            if start >= 0:
                line = json.loads(raw[start:])
                if line["route"] == "/v1/generations/{request_id}":
                    found.append(line)
        time.sleep(0.2)
    assert found and found[0]["status"] == 404 and found[0]["code"] == "not_found"
    assert found[0]["request_id"] == missing.headers["x-request-id"]
