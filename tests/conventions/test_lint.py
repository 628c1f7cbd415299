"""The hygiene checks run, and what they are told to skip says why (issue 29)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A suppression comment names its code, then says why in words ("- why" or "  # why").
_NOQA = re.compile(r"#\s*noqa\b(?P<rest>.*)$")
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<rest>.*)$")
_REASONED = re.compile(r"^(\[[a-z, -]+\]|:\s*[A-Z]+[0-9]+(,\s*[A-Z]+[0-9]+)*)\s*(-|#)\s*\w")


def _sources():
    for folder in ("src", "local", "tests", "bench", "scripts"):
        yield from (ROOT / folder).rglob("*.py")


def test_every_noqa_and_type_ignore_names_its_code_and_reason():
    bare = []
    for path in _sources():
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for pattern in (_NOQA, _IGNORE):
                match = pattern.search(line)
                if match and not _REASONED.match(match["rest"].strip()):
                    bare.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert bare == []


def test_scripts_test_lints_before_the_tests():
    script = (ROOT / "scripts" / "test").read_text()
    assert "scripts/lint" in script and script.index("scripts/lint") < script.index("-m pytest")
    lint = (ROOT / "scripts" / "lint").read_text()
    assert ".venv/bin/ruff check" in lint and ".venv/bin/mypy src local tests bench" in lint
