"""Runs every fault scenario of tests/chaos_harness.py and prints the README's table.

uv run python -m bench.reliability [scenario ...]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.chaos_harness import SCENARIOS


def main(names: list[str]) -> None:
    print("| fault | load (tallies) | lost | doubled | recovery | what happened |")
    print("|---|---|---|---|---|---|")
    for name in names or list(SCENARIOS):
        with tempfile.TemporaryDirectory(prefix=f"chaos-{name}-") as tmp:
            result = SCENARIOS[name](Path(tmp))
        print(
            f"| {result.name} | {result.load:,} | {result.lost} | {result.doubled} | "
            f"{result.recovery_seconds:.1f} s | {result.detail} |",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
