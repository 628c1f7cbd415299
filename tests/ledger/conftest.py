"""The ledger fixture: the in-process ledger over SQLite, on the test's `clock`."""

from __future__ import annotations

import pytest

from local.ledger import local_ledger


@pytest.fixture
async def ledger(request: pytest.FixtureRequest, clock):
    """A fresh ledger with a 100_000 µ$ daily budget, plus the settings of a `ledger_config` marker."""
    marker = request.node.get_closest_marker("ledger_config")
    service = local_ledger(":memory:", clock)
    await service.put_config({"daily_budget_micros": 100_000, **(marker.kwargs if marker else {})})
    return service
