"""The project's deploy configuration, read as the deploy tools read it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def pinned(group: str, name: str) -> str:
    """The exact version pyproject.toml pins `name` to in a dependency group."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    for spec in groups[group]:
        req = Requirement(spec)
        if req.name == name:
            (only,) = req.specifier
            assert only.operator == "==", f"{name} must be pinned with == in [dependency-groups].{group}"
            return only.version
    raise AssertionError(f"{name} is not in [dependency-groups].{group}")


@pytest.fixture(scope="session")
def wrangler_config() -> dict:
    return tomllib.loads((ROOT / "wrangler.toml").read_text())


@pytest.fixture(scope="session")
def npm_pins() -> dict[str, str]:
    """wrangler from package.json, and wrangler and workerd as package-lock.json locks them."""
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    return {"package.json wrangler": package["devDependencies"]["wrangler"],
            "wrangler": lock["node_modules/wrangler"]["version"],
            "workerd": lock["node_modules/workerd"]["version"]}
