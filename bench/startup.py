"""`campaigns --help` start-up against what it avoids importing, measured in one run.

    uv run python -m bench.startup [runs]

Prints median wall and CPU (user+sys) seconds over `runs` runs of each command. CPU time is
the steadier figure on a busy machine; the target for `--help` is under 0.3 s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PYTHON = sys.executable
CAMPAIGNS = str(Path(PYTHON).with_name("campaigns"))
COMMANDS = {
    "python -c pass (interpreter floor)": [PYTHON, "-c", "pass"],
    "campaigns --help": [CAMPAIGNS, "--help"],
    "python -c 'import sqlmodel' (avoided)": [PYTHON, "-c", "import sqlmodel"],
    "python -c 'import celery; celery.Celery()' (avoided)": [
        PYTHON,
        "-c",
        "import celery; celery.Celery()",
    ],
}


def measure(command: list[str], runs: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        before = os.times()
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = os.times()
        cpus.append(
            (after.children_user - before.children_user)
            + (after.children_system - before.children_system)
        )
    return statistics.median(walls), statistics.median(cpus)


def main(runs: int) -> None:
    load = os.getloadavg()[0]
    print(f"| command | median wall (s) | median CPU (s) |  ({runs} runs, load {load:.1f})")
    print("|---|---|---|")
    for name, command in COMMANDS.items():
        wall, cpu = measure(command, runs)
        print(f"| {name} | {wall:.3f} | {cpu:.3f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
