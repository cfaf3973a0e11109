"""Runs every fault scenario of tests/chaos_harness.py and tests/chaos_multihost.py (the
latter as root, where network namespaces can be made) and prints the README's table.

uv run python -m bench.reliability [scenario ...]
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests import netns
from tests.chaos_harness import SCENARIOS, ScenarioResult
from tests.chaos_multihost import MULTIHOST_SCENARIOS


def main(names: list[str]) -> None:
    scenarios: dict[str, Callable[[Path], ScenarioResult]] = dict(SCENARIOS)
    reason = netns.available()
    if reason is None:
        scenarios.update(MULTIHOST_SCENARIOS)
    else:
        print(f"(multi-host scenarios left out: {reason})", file=sys.stderr)
    print("| fault | load (tallies) | lost | doubled | recovery | what happened |")
    print("|---|---|---|---|---|---|")
    for name in names or list(scenarios):
        with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as tmp:
            result = scenarios[name](Path(tmp))
        print(
            f"| {result.name} | {result.load:,} | {result.lost} | {result.doubled} | "
            f"{result.recovery_seconds:.1f} s | {result.detail} |",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
