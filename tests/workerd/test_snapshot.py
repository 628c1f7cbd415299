"""Cold start as deployed: Cloudflare saves the Worker's memory snapshot on upload (the
WebAssembly memory after the top-level code ran) and starts isolates from it. Here
workerd saves one (`--python-save-snapshot`), and a second workerd loads it and serves
a generation, so a change that breaks snapshotting (entropy or a JS handle at import)
fails CI, not the deploy."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx

from tests.workerd import harness
from tests.workerd.conftest import AUTH, TOKEN

SETTINGS = {"API_TOKEN": TOKEN, "REQUIRE_API_TOKEN": "true", "PLACEHOLDER_ENABLED": "true"}


def _run(args: str) -> tuple[harness.Workerd, float]:
    session = harness.start(SETTINGS, workerd_args=args).wait_ready()
    started = time.monotonic()
    made = httpx.post(f"{session.url}/v1/generations", headers=AUTH, timeout=120,
                      json={"prompt": "from a snapshot", "provider": "placeholder", "size": "256x256"})
    first_s = time.monotonic() - started
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "succeeded" and len(made.json()["images"]) == 1
    image = httpx.get(f"{session.url}/v1/images/{made.json()['images'][0]['id']}", headers=AUTH, timeout=60)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    return session, first_s


def test_the_worker_snapshots_and_serves_a_generation_from_its_snapshot():
    folder = Path(tempfile.mkdtemp(prefix="snapshot-"))
    try:
        saving, _ = _run(f"--python-snapshot-dir {folder} --python-save-snapshot")
        saving.stop()
        snapshot = folder / "snapshot.bin"
        assert snapshot.is_file() and snapshot.stat().st_size > 10 * harness.MIB, list(folder.iterdir())
        loading, first_s = _run(f"--python-snapshot-dir {folder} --python-load-snapshot snapshot.bin")
        log = loading.log()
        loading.stop()
        assert not [d for d in harness.RUNTIME_DEFECTS if d in log], log[-3000:]
        print(f"\nsnapshot {snapshot.stat().st_size / harness.MIB:.1f} MiB; from it: ready after {loading.ready_s:.1f} s,"
              f" first generation {first_s * 1000:.0f} ms (saving run: ready after {saving.ready_s:.1f} s)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
