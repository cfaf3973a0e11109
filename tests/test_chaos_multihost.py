"""Faults with real network separation (slow: several minutes per scenario, root only).

Four hosts in network namespaces (tests/netns.py): Redis and PostgreSQL on one, a worker on
each of two more, the importing CLI on the fourth; one host is cut off mid-import and then
plugged back. Counted exactly once, and soon after the network is whole again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import netns
from tests.chaos_multihost import MULTIHOST_SCENARIOS
from tests.servers import ServerUnavailableError


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("name", list(MULTIHOST_SCENARIOS))
def test_network_fault(name: str, tmp_path: Path) -> None:
    reason = netns.available()
    if reason is not None:
        pytest.skip(f"no network namespaces here: {reason}")
    try:
        result = MULTIHOST_SCENARIOS[name](tmp_path)
    except ServerUnavailableError as exc:
        pytest.skip(str(exc))
    print(result)  # shown with -rP: the numbers behind a pass
    assert result.load >= 100_000
    assert result.lost == 0, result
    assert result.doubled == 0, result
    assert result.recovery_seconds <= 180, result
    if result.counted_when_fault_ended is not None:
        # The healthy worker host kept counting while the other was cut off: everything but
        # the two chunks the cut-off host had taken (it once waited on that host's locks
        # for as long as TCP takes to give up, two hours by default).
        assert result.counted_when_fault_ended >= result.load - 2 * 5000, result
