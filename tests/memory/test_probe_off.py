"""The memory probe (runtime/memory_probe.py) is a test setting's, never a request's:
no deployed config sets it, the settings never carry it, and only the host reads it.
In workerd, tests/workerd/test_isolate_memory.py proves that a request cannot turn it
on (the `worker` session answers 404 whatever the request says)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pipeline.settings import KNOWN_KEYS

ROOT = Path(__file__).resolve().parents[2]
SETTING = "TEST_MEMORY_PROBE"


def test_no_deployed_config_and_no_setting_carries_the_probe():
    text = (ROOT / "wrangler.toml").read_text()
    assert tomllib.loads(text)["vars"] and SETTING not in text
    assert SETTING not in KNOWN_KEYS  # read_env copies only known keys: the app never sees it


def test_only_the_host_reads_the_setting():
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "src").rglob("*.py") if SETTING in p.read_text()]
    assert readers == ["src/pipeline/runtime/memory_probe.py"]
