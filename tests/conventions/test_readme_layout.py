"""The README's Layout section and the code agree: every module and package of src/pipeline/
(and of src/pipeline/runtime/) is named there, and everything it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "pipeline"


def _layout() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Layout"):]
    return section[section.index("```") + 3:section.index("```", section.index("```") + 3)]


def _entries(folder: Path) -> set[str]:
    return {p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
            if (p.suffix == ".py" and p.name != "__init__.py") or (p.is_dir() and (p / "__init__.py").exists())}


def _named(text: str) -> set[str]:
    return set(re.findall(r"\b[a-z_]+(?:\.py|/)", text))


def test_every_core_module_and_package_is_in_the_readme_layout():
    named = _named(_layout())
    assert sorted(_entries(CORE) - named) == []
    assert sorted(_entries(CORE / "runtime") - named) == []


def test_the_layout_names_only_what_exists():
    layout = _layout()
    core = layout[layout.index("src/pipeline/") + len("src/pipeline/"):layout.index("local/")]
    core = core.replace("js/pyodide/workers", "")  # the runtime's imports, not paths
    exists = _entries(CORE) | _entries(CORE / "runtime") | _entries(CORE / "runtime" / "bindings")
    exists |= {p.name + "/" for p in CORE.rglob("*") if p.is_dir() and (p / "__init__.py").exists()}  # (providers/shared/)
    exists |= {p.name for p in CORE.rglob("*.py")}  # files named inside a package's line (store.py, base.py)
    assert sorted(_named(core) - exists) == []
    for top in ("local/", "migrations/", "types/", "bench/", "tests/fakes/", "tests/workerd/", "tests/clocks.py"):
        assert top in layout and (ROOT / top).exists(), top


def test_every_test_path_the_docs_name_exists():
    """Docs, settings and docstrings cite test modules by path; a move must update them."""
    sources = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "schemathesis.toml", *(ROOT / "docs").glob("*.md"),
               *(ROOT / "src").rglob("*.py"), *(ROOT / "tests").glob("*.py")]
    cited = {m for p in sources for m in re.findall(r"tests/[\w/]+\.py", p.read_text())}
    assert len(cited) >= 5  # the scan sees the citations
    assert sorted(c for c in cited if not (ROOT / c).exists()) == []
