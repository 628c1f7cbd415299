"""The fault plan's wire form (what the workerd hook takes) and the hook's off-by-default
rules that can be checked without workerd: production config never sets it, the settings
never carry it, and a bad plan is refused, never half applied. (In workerd,
tests/workerd/test_faults.py proves a request cannot turn it on.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from pipeline.fault_plan import Fault, FaultPlan
from pipeline.settings import KNOWN_KEYS
ROOT = Path(__file__).resolve().parents[2]
SETTING = "TEST_FAULT_HOOK"


def test_no_deployed_config_sets_the_hook():
    config = tomllib.loads((ROOT / "wrangler.toml").read_text())

    def keys(table):
        for key, value in table.items():
            yield key
            if isinstance(value, dict):
                yield from keys(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        yield from keys(item)

    assert SETTING not in set(keys(config))
    assert SETTING not in (ROOT / "wrangler.toml").read_text()


def test_the_settings_never_carry_the_hook():
    assert SETTING not in KNOWN_KEYS  # read_env copies only known keys: the app never sees it


def test_only_the_host_reads_the_setting():
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "src").rglob("*.py") if SETTING in p.read_text()]
    assert readers == ["src/pipeline/runtime/fault_hook.py"]


def test_a_plan_round_trips_and_counts_per_method():
    plan = FaultPlan.from_dict({"faults": [{"port": "db", "method": "batch", "nth": 2, "kind": "lost"},
                                           {"port": "objects", "nth": 1, "kind": "down"}]})
    assert plan.faults == [Fault("db", 2, "lost", "batch"), Fault("objects", 1, "down")]
    assert plan._kind("db", "first") is None and plan._kind("db", "batch") is None
    assert plan._kind("db", "run") is None and plan._kind("db", "batch") == "lost"  # the 2nd batch, 4th db call
    assert [plan._kind("objects", m) for m in ("put", "get", "put")] == ["fail", "fail", "fail"]  # down stays down
    wire = plan.to_dict()
    assert wire["fired"] == [["db", "batch", "lost"]] + [["objects", m, "down"] for m in ("put", "get", "put")]
    assert FaultPlan.from_dict({"faults": wire["faults"]}).faults == plan.faults
    plan.reset([])
    assert plan.to_dict() == {"faults": [], "calls": [], "fired": [], "healed": False}


@pytest.mark.parametrize("bad", [
    [], {"faults": {}}, {"faults": [{"port": "dns", "nth": 1}]}, {"faults": [{"port": "db", "nth": 0}]},
    {"faults": [{"port": "db", "nth": "1"}]}, {"faults": [{"port": "db", "nth": 1, "kind": "slow"}]},
    {"faults": [{"port": "db", "nth": 1, "extra": True}]}, {"faults": ["db"]},
])
def test_a_bad_plan_is_refused(bad):
    with pytest.raises(ValueError, match=re.compile("plan|fault")):
        FaultPlan.from_dict(bad)
