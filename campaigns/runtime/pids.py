"""Process ids of servers that need not be this process's children: pidfiles, whether a pid
is alive (a zombie is not), waiting for a process to exit and signalling it.

Given the `Popen` handle of a child, waiting and signalling go through it, so the child is
reaped rather than left a zombie.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

POLL_INTERVAL = 0.05


def read_pid(path: Path) -> int | None:
    try:
        return parse_pid(path.read_bytes())
    except OSError:
        return None


def parse_pid(raw: bytes) -> int | None:
    text = raw.decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still accepts signal 0; on Linux /proc tells it apart.
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


def wait_exit(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if process is not None:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_INTERVAL)
    return True


def send_signal(pid: int, process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is not None:
        process.send_signal(sig)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
