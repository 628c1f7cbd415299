"""`kill -9` of the local server in the middle of a load, then a restart: every
request ends terminal and charged what it may have cost, every slot and
reservation is back, the service answers at once (no ten minutes of 503), and
image rows and stored objects agree."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from local.db import SqliteDatabase
from pipeline.providers.placeholder import render_png
from tests.fakes.server import Reply
from tests.test_generations_api import openai_success

ROOT = Path(__file__).resolve().parent.parent


def _port() -> int:
    for port in range(19560, 19600):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 19560-19599")


def _start(data: Path, port: int, provider_url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": provider_url,
           "PLACEHOLDER_ENABLED": "false", "LOCAL_MAINTENANCE_S": "1", "REQUIRE_API_TOKEN": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "local.server", "--port", str(port), "--data", str(data)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/budget", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "server did not start")


def test_a_killed_server_recovers_everything_on_restart(tmp_path, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"crash", 16, 16)), delay_s=0.3))
    data, port = tmp_path / "data", _port()
    base = f"http://127.0.0.1:{port}"
    server = _start(data, port, openai.url)
    try:
        assert httpx.put(f"{base}/v1/budget", json={"global_concurrency": 2}).status_code == 200
        pool = ThreadPoolExecutor(12)
        for i in range(12):
            pool.submit(lambda i=i: httpx.post(f"{base}/v1/generations", json={"prompt": f"load {i}", "quality": "low"},
                                               timeout=10))
        time.sleep(1.0)  # some finished, some calling the provider, some queued for a slot
        server.send_signal(signal.SIGKILL)
        server.wait(5)
        pool.shutdown(wait=True, cancel_futures=True)

        server = _start(data, port, openai.url)  # recovers before serving
        budget = httpx.get(f"{base}/v1/budget").json()
        assert budget["today"]["slots_in_use"] == 0 and budget["today"]["reserved_now_micros"] == 0, budget
        fresh = httpx.post(f"{base}/v1/generations", json={"prompt": "after the crash", "quality": "low"}, timeout=10)
        assert fresh.status_code == 201, fresh.text
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(5)

    db = SqliteDatabase(data / "local.db")
    rows = db._conn.execute("SELECT status, error_code, actual_cost_micros FROM generation_requests").fetchall()
    assert len(rows) >= 2 and all(r["status"] in ("succeeded", "failed") for r in rows)
    abandoned = [r for r in rows if r["error_code"] == "abandoned"]
    assert abandoned, "the kill should have cut some requests"
    spent_d1 = sum(r["actual_cost_micros"] or 0 for r in rows)
    root = data / "r2"
    stored = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".meta.json")}
    recorded = {r["r2_key"] for r in db._conn.execute("SELECT r2_key FROM images").fetchall()}
    assert stored == recorded  # every row has its bytes, every object its row
    from local.ledger import SqliteSqlStorage
    from pipeline.ledger.core import LedgerCore

    ledger = LedgerCore(SqliteSqlStorage(str(data / "ledger.db")))
    spent = ledger.sql.exec("SELECT COALESCE(SUM(spent_micros), 0) AS n FROM day_totals WHERE caller = '*'")[0]["n"]
    assert spent == spent_d1  # what D1 says was spent (billed or maybe billed) is what the ledger charged


def test_a_request_killed_mid_call_is_retried_under_its_idempotency_key_after_restart(tmp_path, fake_server):
    openai = fake_server()
    openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"slow", 16, 16)), delay_s=30))
    data, port = tmp_path / "data", _port()
    base = f"http://127.0.0.1:{port}"
    body, key = {"prompt": "cut short", "quality": "low"}, {"Idempotency-Key": "chapter-3-cover"}
    server = _start(data, port, openai.url)
    try:
        pool = ThreadPoolExecutor(1)
        pool.submit(lambda: httpx.post(f"{base}/v1/generations", json=body, headers=key, timeout=60))
        for _ in range(100):  # until the provider has the call
            if openai.received:
                break
            time.sleep(0.05)
        assert openai.received
        server.send_signal(signal.SIGKILL)
        server.wait(5)
        pool.shutdown(wait=True, cancel_futures=True)

        openai.route("POST", "/v1/images/generations", Reply(200, openai_success(render_png(b"fast", 16, 16))))
        server = _start(data, port, openai.url)  # recovery ends the cut request
        again = httpx.post(f"{base}/v1/generations", json=body, headers=key, timeout=20)
        assert again.status_code == 201, again.text
        db = SqliteDatabase(data / "local.db")._conn
        first = db.execute("SELECT id, status, error_code, json_extract(params, '$.retried_by') AS retried_by"
                           " FROM generation_requests WHERE id != ?", (again.json()["id"],)).fetchall()
        assert len(first) == 1 and first[0]["status"] == "failed" and first[0]["error_code"] == "abandoned"
        assert first[0]["retried_by"] == again.json()["id"]  # the new attempt is linked to the first
        retry_of = db.execute("SELECT json_extract(params, '$.retry_of') AS r FROM generation_requests WHERE id = ?",
                              (again.json()["id"],)).fetchone()["r"]
        assert retry_of == first[0]["id"]
        replay = httpx.post(f"{base}/v1/generations", json=body, headers=key, timeout=20)
        assert replay.status_code == 200 and replay.json()["id"] == again.json()["id"]  # now it replays
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(5)
