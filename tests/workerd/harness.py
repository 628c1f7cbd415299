"""Start the Worker in real workerd (Pyodide 314) through the offline `workerd` tool
(`dev`, see its README), the way CI and the benchmarks do.

The project is copied to a temporary folder first, with a `.dev.vars` holding the
test settings (fake providers on 127.0.0.1, a test API token): the developer's own
`.dev.vars` is never read or changed, and a second config (the JS caller Worker)
gets the same settings, which `--var` would not give it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALLER_CONFIG = "tests/workerd/caller/wrangler.toml"
# The host's test-only fault hook (src/pipeline/runtime/fault_hook.py): its setting and route.
FAULT_HOOK_SETTING, FAULT_HOOK_PATH = "TEST_FAULT_HOOK", "/__test/faults"
# The host's test-only memory probe (src/pipeline/runtime/memory_probe.py).
MEMORY_PROBE_SETTING, MEMORY_PROBE_PATH = "TEST_MEMORY_PROBE", "/__test/memory"
MIB = 1024 * 1024
# Faults only the real runtime shows; any of them in the Worker's log is a defect.
RUNTIME_DEFECTS = (
    "can't start new thread",
    "borrowed proxy was automatically destroyed",
    "Cannot perform I/O on behalf of a different request",
    "has no attribute 'to_bytes'",
    "This ReadableStream is disturbed",
    # A killed isolate (a parser's recursion, out of memory): every later request on it fails.
    "abortIsolate",
    "Maximum call stack",
    "pyodide_fatal_error",
)


def tool_dir() -> Path | None:
    """The offline workerd tool: $WORKERD_TOOL, else ../shared/workerd beside the repo."""
    candidates = [Path(os.environ["WORKERD_TOOL"])] if os.environ.get("WORKERD_TOOL") else []
    candidates.append(ROOT.parent / "shared" / "workerd")
    return next((c for c in candidates if (c / "dev").is_file()), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_project(dest: Path, dev_vars: dict[str, str]) -> Path:
    """The project's files as git sees them (tracked and new, not ignored), plus `.dev.vars`."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
        files = [f for f in listed if f and (ROOT / f).is_file()]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "node_modules", ".wrangler", ".data", "__pycache__", "python_modules", "dist"}
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    for name in files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    (dest / ".dev.vars").write_text("".join(f"{k}={v}\n" for k, v in dev_vars.items()))
    return dest


@dataclass
class Workerd:
    """One `wrangler dev` of the Worker in workerd, on 127.0.0.1:port."""

    port: int
    proc: subprocess.Popen
    folder: Path
    started: float
    ready_s: float | None = None
    _log_offset: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def out(self) -> Path:
        return self.folder / "dev.out"

    @property
    def err(self) -> Path:
        return self.folder / "dev.err"

    def log(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def new_log(self) -> str:
        """What the Worker logged since the last call."""
        text = self.log()
        fresh, self._log_offset = text[self._log_offset:], len(text)
        return fresh

    def wait_ready(self, timeout_s: float = 300) -> Workerd:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if f"Ready on http://127.0.0.1:{self.port}" in self.out.read_text(errors="replace"):
                self.ready_s = time.monotonic() - self.started
                self._log_offset = len(self.log())
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"workerd did not start (exit {self.proc.poll()}):\n{self.log()[-4000:]}")

    def workerd_pids(self) -> list[int]:
        """The workerd processes under this session (miniflare starts two)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                if "workerd" in Path(f"/proc/{pid}/comm").read_text():
                    found.append(pid)
            except OSError:
                continue
            todo += [int(c) for c in children]
        return found

    def rss_bytes(self) -> int:
        """workerd's resident memory, all its processes."""
        total = 0
        for pid in self.workerd_pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def cpu_s(self) -> float:
        """CPU seconds (user + system) workerd used so far, all its processes (the Worker's
        isolate and miniflare's local D1/R2/DO services)."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.workerd_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # the tool stops workerd with it (pdeathsig)
            self.proc.wait(30)


def open_budget(url: str, headers: dict[str, str] | None = None) -> None:
    """Budgets and concurrency out of the way (memory and CPU runs: the isolate is the limit)."""
    import httpx  # here: the harness is also imported where httpx is not needed

    big = 10**12
    httpx.put(f"{url}/v1/budget", headers=headers, timeout=60, json={
        "daily_budget_micros": big, "default_caller_daily_budget_micros": big, "max_cost_per_image_micros": None,
        "global_concurrency": 1000, "provider_concurrency": {"openai": 1000}}).raise_for_status()


def start(dev_vars: dict[str, str], *, configs: list[str] | None = None, port: int | None = None,
          workerd_args: str | None = None) -> Workerd:
    """Start `dev` on a copy of the project (not waiting for it: call `wait_ready`).
    `configs`: wrangler configs in order (the first is served), e.g. the RPC caller's.
    `workerd_args`: more workerd options (the tool's WORKERD_EXTRA_ARGS), e.g. the memory snapshot's."""
    port = port or free_port()
    folder = Path(tempfile.mkdtemp(prefix=f"workerd-{port}-"))
    copy_project(folder / "image-worker", dev_vars)
    return _launch(folder, port, configs, fresh=True, workerd_args=workerd_args)


def restart(session: Workerd) -> Workerd:
    """The same Worker started again over the same local state (D1, R2, the Durable Object's
    storage): new isolates that remember nothing, the same ledger. Not waiting: `wait_ready`."""
    session.stop()
    for name in ("dev.out", "dev.err"):
        (session.folder / name).unlink(missing_ok=True)
    return _launch(session.folder, free_port(), None, fresh=False)


def _launch(folder: Path, port: int, configs: list[str] | None, *, fresh: bool,
            workerd_args: str | None = None) -> Workerd:
    tool = tool_dir()
    if tool is None:
        raise RuntimeError("the offline workerd tool was not found (set WORKERD_TOOL or put it at ../shared/workerd)")
    project = folder / "image-worker"
    args = [str(tool / "dev"), "--port", str(port), *(["--fresh"] if fresh else []),
            "--persist-to", str(folder / "state"), str(project),
            # each session its own inspector port: two on the default 9229 collide
            "--", "--inspector-port", str(free_port())]
    args += [a for c in configs or [] for a in ("-c", c)]
    with open(folder / "dev.out", "wb") as out, open(folder / "dev.err", "wb") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env={**os.environ, "CI": "true", "WRANGLER_SEND_METRICS": "false",
                                     **({"WORKERD_EXTRA_ARGS": workerd_args} if workerd_args else {})})
    return Workerd(port, proc, folder, time.monotonic())
