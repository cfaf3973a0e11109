"""`campaigns serve`: a whole installation as one foreground process tree.

The supervisor holds the data dir's instance lock, upgrades the database, starts the
embedded Redis when no broker URL is configured, then runs `campaigns worker` and
`campaigns beat` as child processes. On Ctrl-C, SIGTERM or SIGHUP it stops the children
first (the worker's warm shutdown finishes its current tasks; unstarted messages go back
to the queue, late acks make sure of it) and Redis last, whose SHUTDOWN flushes the
append-only file: whatever was queued is there on the next `serve`.

The children run in sessions of their own, so a terminal's Ctrl-C reaches the supervisor
only and the shutdown happens in this order; on Linux they also get SIGTERM if the
supervisor itself is killed, so no worker outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from campaigns.errors import CampaignsError
from campaigns.runtime.embedded import (
    EmbeddedRedis,
    find_embedded_redis,
    start_embedded_redis,
    stop_embedded_redis,
)
from campaigns.runtime.instance_lock import InstanceLock
from campaigns.runtime.redis_server import EmbeddedRedisError
from campaigns.settings import Settings

Say = Callable[[str], None]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL = 0.2
# Beat holds no work: it only publishes the dispatch tick.
_BEAT_STOP_TIMEOUT = 10.0
_KILL_TIMEOUT = 10.0


class ServeError(CampaignsError):
    """A part of `serve` stopped by itself; everything else has been stopped too."""


@dataclass(frozen=True)
class ServeOptions:
    concurrency: int = 2
    loglevel: str = "INFO"
    # How long the worker's warm shutdown may take before it is cut short (the messages of
    # tasks cut short stay unacknowledged in Redis and are redelivered later).
    stop_timeout: float = 60.0


def campaigns_command(*args: str) -> list[str]:
    """The `campaigns` CLI run by this interpreter, whatever installed it."""
    return [sys.executable, "-m", "campaigns", *args]


def spawn(
    command: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdout: IO[Any] | int | None = None,
    stderr: IO[Any] | int | None = None,
) -> subprocess.Popen[bytes]:
    """A child in a session of its own that (on Linux) receives SIGTERM if we die."""
    return subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=_die_with_parent(),
    )


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before the fork: the child only calls it.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arrange() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return arrange


class StopSignals:
    """Ctrl-C, SIGTERM and SIGHUP as requests: the first asks for a clean stop, a second
    one for a quick one. Installed for the duration of a `with` block."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[signal.Signals, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    @property
    def hurry(self) -> bool:
        return self.count > 1

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1

    def __enter__(self) -> StopSignals:
        for sig in _STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


def child_environment(data_dir: Path, broker_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["CAMPAIGNS_DATA_DIR"] = os.fspath(data_dir)
    if broker_url is not None:
        env["CAMPAIGNS_BROKER_URL"] = broker_url
    return env


def serve(settings: Settings, options: ServeOptions, *, say: Say) -> None:
    """Run until a stop signal (returns) or until a child exits by itself (raises)."""
    from campaigns.db import reset_engine, upgrade_database

    data_dir = settings.data_dir.resolve()
    with InstanceLock(data_dir), StopSignals() as stop:
        upgrade_database()
        reset_engine()
        say(f"database ready; data dir {data_dir}")
        server: EmbeddedRedis | None = None
        children: dict[str, subprocess.Popen[bytes]] = {}
        failure: str | None = None
        try:
            if settings.broker_url is None and not stop.requested:
                server = _start_redis(data_dir, say=say)
            env = child_environment(data_dir, server.broker_url if server else None)
            if not stop.requested:
                children["worker"] = spawn(
                    campaigns_command(
                        "worker",
                        f"--concurrency={options.concurrency}",
                        f"--loglevel={options.loglevel}",
                    ),
                    env=env,
                )
                children["beat"] = spawn(
                    campaigns_command("beat", f"--loglevel={options.loglevel}"), env=env
                )
                pids = ", ".join(f"{name} pid {child.pid}" for name, child in children.items())
                say(f"serving ({pids}); Ctrl-C stops")
            failure = _watch(children, stop)
        finally:
            _stop_children(children, stop, options, say=say)
            if server is not None:
                say("stopping the embedded Redis")
                _stop_redis(server)
        if failure is not None:
            raise ServeError(f"{failure}; everything else has been stopped")
        say("stopped")


def _start_redis(data_dir: Path, *, say: Say) -> EmbeddedRedis:
    leftover = find_embedded_redis(data_dir)
    if leftover is not None:
        # We hold the lock, so no serve owns it: an earlier serve was killed outright.
        say(f"stopping the embedded Redis (pid {leftover.pid}) left by an earlier serve")
        _stop_redis(leftover)
    try:
        server = start_embedded_redis(data_dir)
    except EmbeddedRedisError as exc:
        raise ServeError(str(exc)) from None
    say(f"embedded Redis ready (pid {server.pid}) at {server.url}")
    return server


def _stop_redis(server: EmbeddedRedis) -> None:
    try:
        stop_embedded_redis(server)
    except EmbeddedRedisError as exc:
        raise ServeError(str(exc)) from None


def _watch(children: Mapping[str, subprocess.Popen[bytes]], stop: StopSignals) -> str | None:
    """Wait for a stop request (None) or for a child to exit by itself (what happened)."""
    while not stop.requested:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                return f"campaigns {name} exited with status {code}"
        time.sleep(_POLL_INTERVAL)
    return None


def _stop_children(
    children: Mapping[str, subprocess.Popen[bytes]],
    stop: StopSignals,
    options: ServeOptions,
    *,
    say: Say,
) -> None:
    running = {name: child for name, child in children.items() if child.poll() is None}
    if not running:
        return
    say(f"stopping {' and '.join(running)} (the worker finishes its current tasks)")
    for child in running.values():
        child.send_signal(signal.SIGTERM)
    timeouts = {"worker": options.stop_timeout, "beat": _BEAT_STOP_TIMEOUT}
    for name, child in running.items():
        if _wait(child, timeouts.get(name, _BEAT_STOP_TIMEOUT), stop):
            continue
        # Celery's cold shutdown; the messages of interrupted tasks stay unacknowledged.
        say(f"campaigns {name} is taking too long: stopping it now")
        child.send_signal(signal.SIGQUIT)
        if not _wait(child, _KILL_TIMEOUT, None):
            child.kill()
            child.wait()


def _wait(child: subprocess.Popen[bytes], timeout: float, stop: StopSignals | None) -> bool:
    """Wait for `child` to exit; False on timeout, or at once when a second signal came."""
    deadline = time.monotonic() + timeout
    while child.poll() is None:
        if time.monotonic() > deadline or (stop is not None and stop.hurry):
            return False
        time.sleep(_POLL_INTERVAL)
    return True


@contextlib.contextmanager
def serving_in_background(
    command: list[str], *, env: Mapping[str, str], data_dir: Path, log: Path, timeout: float
) -> Iterator[subprocess.Popen[bytes]]:
    """`campaigns serve` as a child: yields once its embedded Redis answers, stops it after."""
    with log.open("ab") as out:
        process = spawn(command, env=env, cwd=data_dir, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while find_embedded_redis(data_dir) is None:
            if process.poll() is not None:
                raise ServeError(
                    f"campaigns serve exited with status {process.returncode}; see {log}"
                )
            if time.monotonic() > deadline:
                raise ServeError(f"campaigns serve did not start within {timeout:g} s; see {log}")
            time.sleep(_POLL_INTERVAL)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
