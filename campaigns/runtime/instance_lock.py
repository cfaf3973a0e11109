"""The lock that keeps `campaigns serve` single: one holder per data dir, found by its pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from campaigns.errors import ConflictError
from campaigns.runtime.pids import parse_pid

LOCK_NAME = "serve.lock"


class AlreadyRunningError(ConflictError):
    """Another `campaigns serve` holds the instance lock of this data dir."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        holder = f" (pid {pid})" if pid is not None else ""
        super().__init__(f"another campaigns serve is already running for this data dir{holder}")


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
            holder = parse_pid(os.read(fd, 64))
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
