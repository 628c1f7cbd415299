"""Every setting the Worker reads is documented where a user who cloned the repo looks."""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import KNOWN_KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented():
    docs = "".join(p.read_text() for p in [ROOT / "README.md", ROOT / "wrangler.toml", *(ROOT / "docs").glob("*.md")])
    assert [key for key in KNOWN_KEYS if key not in docs] == []


def test_docs_never_link_outside_the_repository():
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        assert "../shared" not in path.read_text(), path
