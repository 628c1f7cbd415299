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

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # the tool stops workerd with it (pdeathsig)
            self.proc.wait(30)


def start(dev_vars: dict[str, str], *, configs: list[str] | None = None, port: int | None = None) -> Workerd:
    """Start `dev` on a copy of the project (not waiting for it: call `wait_ready`).
    `configs`: wrangler configs in order (the first is served), e.g. the RPC caller's."""
    port = port or free_port()
    folder = Path(tempfile.mkdtemp(prefix=f"workerd-{port}-"))
    copy_project(folder / "image-worker", dev_vars)
    return _launch(folder, port, configs, fresh=True)


def restart(session: Workerd) -> Workerd:
    """The same Worker started again over the same local state (D1, R2, the Durable Object's
    storage): new isolates that remember nothing, the same ledger. Not waiting: `wait_ready`."""
    session.stop()
    for name in ("dev.out", "dev.err"):
        (session.folder / name).unlink(missing_ok=True)
    return _launch(session.folder, free_port(), None, fresh=False)


def _launch(folder: Path, port: int, configs: list[str] | None, *, fresh: bool) -> Workerd:
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
                                env={**os.environ, "CI": "true", "WRANGLER_SEND_METRICS": "false"})
    return Workerd(port, proc, folder, time.monotonic())
