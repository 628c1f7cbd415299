"""Cold-start cost of the Worker's imports in real workerd (Pyodide 314).

Starts a fresh `wrangler dev` (offline workerd tool) of a copy of the project whose entry
point (bench/coldstart_worker/entry.py) imports nothing of the app at start, then imports the
packages one after another, each in its own request, and times each request from outside:
each row is what that import adds to the ones above it. The last row, `entry`, is the
whole Worker module (every route built by create_app). Every run is a new isolate.
`--variants` also runs the bundle without this project's python_modules.exclude
(wrangler's default, **/*.pyc only) to show what the trimming saves.

    bench/run --coldstart [--runs 3] [--variants]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.workerd import harness

STEPS = ["", "pydantic_core", "pydantic", "starlette", "fastapi", "pipeline.models", "pipeline.providers.registry",
         "pipeline.api.app", "entry"]
DEFAULT_EXCLUDES = 'python_modules = { exclude = ["**/*.pyc"] }'


def _start(excludes: str | None) -> harness.Workerd:
    port = harness.free_port()
    folder = Path(tempfile.mkdtemp(prefix=f"coldstart-{port}-"))
    project = harness.copy_project(folder / "image-worker", {"PLACEHOLDER_ENABLED": "true"})
    shutil.copy(Path(__file__).parent / "coldstart_worker" / "entry.py", project / "src" / "bench_coldstart.py")
    config = (project / "wrangler.toml").read_text().replace('main = "src/entry.py"', 'main = "src/bench_coldstart.py"')
    if excludes is not None:
        config = re.sub(r"python_modules = \{ exclude = \[.*?\] \}", excludes, config, count=1, flags=re.S)
    (project / "wrangler.toml").write_text(config)
    args = [str(harness.tool_dir() / "dev"), "--port", str(port), "--fresh", "--persist-to", str(folder / "state"),
            str(project), "--", "--inspector-port", str(harness.free_port())]
    with open(folder / "dev.out", "wb") as out, open(folder / "dev.err", "wb") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env={**os.environ, "CI": "true", "WRANGLER_SEND_METRICS": "false"})
    return harness.Workerd(port, proc, folder, time.monotonic())


def _one_run(excludes: str | None) -> dict[str, float]:
    worker = _start(excludes).wait_ready()
    try:
        out, facts = {}, {}
        for step in STEPS:
            t = time.perf_counter()
            r = httpx.get(worker.url, params={"module": step}, timeout=120)
            key = step or "first request (no import)"
            out[key] = (time.perf_counter() - t) * 1000
            assert r.status_code == 200, r.text
            facts = r.json()
            out[f"mem:{key}"] = facts["wasm_bytes"] / (1024 * 1024)
        out["python"] = facts["python"]
        out["pydantic_v1_shipped"] = facts["pydantic_v1_shipped"]
        return out
    finally:
        worker.stop()
        shutil.rmtree(worker.folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also run with wrangler's default excludes")
    args = parser.parse_args()
    variants: dict[str, str | None] = {"this project's python_modules.exclude": None}
    if args.variants:
        variants["wrangler's default exclude (**/*.pyc)"] = DEFAULT_EXCLUDES
    results = {name: [_one_run(ex) for _ in range(args.runs)] for name, ex in variants.items()}
    keys = [k for k in results[next(iter(results))][0] if k not in ("python", "pydantic_v1_shipped")
            and not k.startswith("mem:")]
    names = list(results)
    first = results[names[0]][0]
    print(f"runs: {args.runs} fresh isolates each; Python {first['python']} in workerd; median ms per request, "
          "each import on top of the rows above")
    print("| import | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))

    def med(n: str, k: str) -> float:
        return statistics.median(r[k] for r in results[n])

    for k in keys:
        print(f"| {k} | " + " | ".join(f"{med(n, k):.0f}" for n in names) + " |")
    print("| all imports (sum) | " + " | ".join(f"{sum(med(n, k) for k in keys[1:]):.0f}" for n in names) + " |")
    print("\nWebAssembly memory after each import (MiB, median; it never shrinks, so each row includes the ones above)")
    print("| import | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{med(n, 'mem:' + k):.1f}" for n in names) + " |")
    print("pydantic.v1 shipped: " + ", ".join(f"{n}: {results[n][0]['pydantic_v1_shipped']}" for n in names))


if __name__ == "__main__":
    main()
