"""The pinned workerd, given the project's compatibility date and flags, selects the Pyodide
release that the workerd layer (scripts/test-workerd) runs. Read from the binary by the
offline workerd tool's lib/workerd_info.py; skipped when the tool is absent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

TOOL = Path(os.environ.get("WORKERD_TOOL") or ROOT.parent / "shared" / "workerd")


@pytest.fixture(scope="module")
def tool_env() -> dict[str, str]:
    """What the workerd layer runs: the tool's `provision --print-env` with its defaults."""
    if not (TOOL / "provision").is_file() or not (TOOL / "lib" / "workerd_info.py").is_file():
        pytest.skip(f"the offline workerd tool is not at {TOOL} (set WORKERD_TOOL): "
                    "the runtime's release table cannot be read")
    done = subprocess.run([str(TOOL / "provision"), "--print-env"], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def workerd_info(tool_env):
    sys.path.insert(0, str(TOOL / "lib"))
    try:
        import workerd_info
    finally:
        sys.path.remove(str(TOOL / "lib"))
    return workerd_info, workerd_info.load(tool_env["WORKERD_INFO"])


def test_the_workerd_layer_runs_the_wrangler_and_workerd_the_project_pins(tool_env, npm_pins):
    assert tool_env["WORKERD_WRANGLER_VERSION"] == npm_pins["wrangler"]
    assert tool_env["WORKERD_PKG_VERSION"] == npm_pins["workerd"]


def test_the_project_date_is_one_the_pinned_workerd_supports(tool_env, wrangler_config):
    # Otherwise the workerd layer runs an older date than production (the tool clamps it).
    out = subprocess.run([tool_env["WORKERD_REAL"], "--version"], capture_output=True, text=True, timeout=60).stdout
    newest = out.split()[-1]
    assert wrangler_config["compatibility_date"] <= newest, out


def test_production_selects_the_pyodide_the_workerd_layer_runs(tool_env, workerd_info, wrangler_config):
    lib, info = workerd_info
    date, flags = wrangler_config["compatibility_date"], wrangler_config["compatibility_flags"]
    enabled, errors = lib.compile_flags(info, date, flags)
    assert errors == []
    release = lib.selected_release(info, enabled)
    assert release["flagName"] == "pythonWorkers314"
    assert release["realPyodideVersion"] == tool_env["WORKERD_PYODIDE_VERSION"]
    assert release["realPyodideVersion"].startswith("314.")  # Python 3.14, what pywrangler builds for
    plan = lib.plan_local(info, date, flags)
    assert plan["local"]["realPyodideVersion"] == release["realPyodideVersion"]
    # Every other flag the workerd layer runs with is production's.
    assert plan["differences"] == []
