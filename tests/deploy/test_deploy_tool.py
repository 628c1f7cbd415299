"""The deploy tool itself (the pinned workers-py's pywrangler, run offline) on the project's
config: which Python the Worker's packages are built for, from which index, from which lock."""

from __future__ import annotations

import re
import shutil
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from pywrangler import resolve, utils

from scripts.python_modules import pick_wheels
from tests.deploy.conftest import ROOT, pinned


def _ask(project: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What pywrangler decides for the project in `project` (it reads the cwd's config)."""
    monkeypatch.chdir(project)
    utils.find_pyproject_toml.cache_clear()
    utils.get_python_version.cache_clear()
    try:
        return {"python": utils.get_python_version(), "interpreter": utils.get_uv_pyodide_interp_name(),
                "index": utils.get_pyodide_index(), "lockfile": str(utils.get_lockfile_path())}
    finally:
        utils.find_pyproject_toml.cache_clear()
        utils.get_python_version.cache_clear()


def test_the_installed_deploy_tool_is_the_pinned_one():
    assert version("workers-py") == pinned("workers", "workers-py")
    assert version("uv") == pinned("workers", "uv")
    assert tuple(int(x) for x in pinned("workers", "uv").split(".")) >= utils.MIN_UV_VERSION


def test_pywrangler_accepts_the_pinned_wrangler(npm_pins):
    # `pywrangler dev` refuses an older wrangler (check_wrangler_version).
    assert npm_pins["package.json wrangler"] == npm_pins["wrangler"]
    assert tuple(int(x) for x in npm_pins["wrangler"].split(".")) >= utils.MIN_WRANGLER_VERSION


def test_pywrangler_builds_the_workers_packages_for_python_3_14_from_the_pyodide_314_index(monkeypatch):
    decided = _ask(ROOT, monkeypatch)
    assert decided["python"] == "3.14"
    assert re.fullmatch(r"cpython-3\.14\.\d+-emscripten-wasm32-musl", decided["interpreter"])
    # Pyodide 314.x is the ABI of Python 3.14 on Pyodide (pyemscripten_2026_0_wasm32 wheels),
    # which every Pyodide 314 runtime loads; check-worker bundles that platform's wheels.
    assert re.fullmatch(r"https://index\.pyodide\.org/314\.\d+\.\d+", decided["index"])
    assert decided["lockfile"] == str(ROOT / "pylock.toml")


def test_the_old_config_would_have_vendored_python_3_13(monkeypatch, tmp_path):
    # Why the release flag matters: pywrangler does not know python_workers_20260610,
    # so the config before issue 15 built cp313 wheels for a Python 3.14 runtime.
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "wrangler.toml").write_text(
        'compatibility_date = "2026-08-25"\ncompatibility_flags = ["python_workers", "python_workers_20260610"]\n')
    assert _ask(tmp_path, monkeypatch)["python"] == "3.13"


def test_the_committed_lock_is_what_pywrangler_installs_and_satisfies_pyproject():
    plan = resolve.InstallPlan(ROOT / "pylock.toml")  # pywrangler's own reader
    locked = dict(plan.requirements)
    assert plan.local_packages == []
    assert resolve.MANAGED_SDK_PACKAGE in locked  # pywrangler always adds the SDK
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for spec in dependencies:
        req = Requirement(spec)
        assert req.name in locked, f"{req.name} is not in pylock.toml: run scripts/lock"
        assert req.specifier.contains(locked[req.name], prereleases=True), \
            f"pylock.toml has {req.name} {locked[req.name]}, pyproject.toml asks {req.specifier}: run scripts/lock"


def test_every_locked_package_has_a_wheel_that_runs_on_pyodide_314():
    lock = tomllib.loads((ROOT / "pylock.toml").read_text())
    wheels = {w["name"]: w["filename"] for w in pick_wheels(lock)}
    assert len(wheels) == len(lock["packages"])
    # The compiled one is the Pyodide 314 build, the rest pure Python.
    assert wheels["pydantic-core"].endswith("-cp314-cp314-pyemscripten_2026_0_wasm32.whl")
    assert all(f.endswith("-none-any.whl") for name, f in wheels.items() if name != "pydantic-core")
