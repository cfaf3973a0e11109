"""`campaigns serve` as a real process tree: embedded Redis, worker, beat, clean stops.

Each test starts `serve` itself (a few seconds each), so the file takes about a minute.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from campaigns.models import Tally
from campaigns.runtime.embedded import find_embedded_redis
from campaigns.runtime.instance_lock import InstanceLock
from tests.conftest import Env, create_running_campaign

WORKER_READY = "ready."


def _stored(env: Env, campaign_id: str) -> int:
    with env.session() as session:
        query = select(func.count()).select_from(Tally).where(Tally.campaign_id == campaign_id)
        return int(session.exec(query).one())


def _terminate(process: subprocess.Popen[str], timeout: float = 90) -> int:
    """SIGTERM to `serve` alone (its children are in sessions of their own)."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


def _assert_all_stopped(env: Env) -> None:
    assert find_embedded_redis(env.data_dir) is None
    with InstanceLock(env.data_dir):  # raises if a serve still held it
        pass


def test_a_tally_logged_through_serve_is_counted_and_a_second_serve_refuses(env: Env) -> None:
    serve = env.start("serve", "--concurrency", "1", ready=WORKER_READY)
    create_running_campaign(env, "ip-week")

    # `log` finds the embedded broker by itself: no CAMPAIGNS_BROKER_URL anywhere.
    assert "CAMPAIGNS_BROKER_URL" not in env.vars
    assert "counted" in env.ok("log", "ip-week", "materials", "300", "--venue", "新世纪广场")
    assert "300" in env.ok("show", "ip-week")

    second = env.run("serve", timeout=60)
    assert second.returncode == 1
    assert second.stderr.strip() == (
        f"campaigns: another campaigns serve is already running for this data dir (pid {serve.pid})"
    )
    assert serve.poll() is None

    assert _terminate(serve) == 0
    log = next(env.data_dir.glob(f"serve-{serve.pid}.log")).read_text()
    assert "Warm shutdown" in log and "campaigns serve: stopped" in log
    _assert_all_stopped(env)


def test_without_serve_log_and_import_say_how_to_start_it(env: Env, tmp_path: Path) -> None:
    create_running_campaign(env, "ip-week")
    _write_sheet(tmp_path / "sheet.csv", 3)
    for command in (
        ("log", "ip-week", "materials", "300"),
        ("import", "ip-week", str(tmp_path / "sheet.csv")),
    ):
        result = env.run(*command)
        assert result.returncode == 1, command
        assert result.stderr.strip() == (
            f"campaigns: no broker: start `campaigns serve` (data dir {env.data_dir.resolve()}) "
            "or set CAMPAIGNS_BROKER_URL"
        )
    assert _stored(env, "ip-week") == 0


def _write_sheet(path: Path, rows: int) -> int:
    with path.open("w", encoding="utf-8", newline="") as sheet:
        writer = csv.writer(sheet)
        writer.writerow(["指标", "数量", "地点"])
        for row in range(rows):
            writer.writerow(["宣传资料", 1 + row % 7, f"社区{row % 13}"])
    return sum(1 + row % 7 for row in range(rows))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigterm_mid_import_loses_nothing(env: Env, tmp_path: Path) -> None:
    rows = 40_000
    expected = _write_sheet(tmp_path / "sheet.csv", rows)
    env.vars["CAMPAIGNS_IMPORT_CHUNK_SIZE"] = "500"
    serve = env.start("serve", "--concurrency", "1", ready=WORKER_READY)
    create_running_campaign(env, "ip-week")
    env.ok("import", "ip-week", str(tmp_path / "sheet.csv"), timeout=180)

    deadline = time.monotonic() + 60
    while _stored(env, "ip-week") == 0:
        assert time.monotonic() < deadline, "nothing counted"
        time.sleep(0.1)
    assert _terminate(serve) == 0
    _assert_all_stopped(env)
    counted_before = _stored(env, "ip-week")
    assert 0 < counted_before < rows, "the stop came after the import: make the sheet bigger"

    # The queued chunks waited in the embedded Redis's append-only file.
    env.processes.clear()
    serve = env.start("serve", "--concurrency", "1", ready=WORKER_READY)
    deadline = time.monotonic() + 120
    while _stored(env, "ip-week") < rows:
        assert time.monotonic() < deadline, f"{_stored(env, 'ip-week')} of {rows} counted"
        time.sleep(0.3)
    shown = env.ok("show", "ip-week")
    assert str(expected) in shown
    assert _stored(env, "ip-week") == rows
    assert _terminate(serve) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sigkilled_serve_leaves_nothing_running_and_the_next_serve_starts(env: Env) -> None:
    serve = env.start("serve", "--concurrency", "1", ready=WORKER_READY)
    redis = find_embedded_redis(env.data_dir)
    assert redis is not None
    children = [pid for pid in _children_of(serve.pid) if pid != redis.pid]
    assert len(children) == 2

    serve.send_signal(signal.SIGKILL)
    serve.wait()
    # Worker and beat get SIGTERM from the kernel when their parent dies.
    deadline = time.monotonic() + 60
    while any(_alive(pid) for pid in children):
        assert time.monotonic() < deadline, "worker or beat outlived serve"
        time.sleep(0.2)

    # The orphaned Redis is the next serve's to stop and start again.
    env.processes.clear()
    again = env.start("serve", "--concurrency", "1", ready=WORKER_READY)
    restarted = find_embedded_redis(env.data_dir)
    assert restarted is not None and restarted.pid != redis.pid
    assert not _alive(redis.pid)
    assert _terminate(again) == 0
    _assert_all_stopped(env)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_a_configured_broker_serve_starts_no_redis_of_its_own(
    env: Env, broker_url: str
) -> None:
    env.vars["CAMPAIGNS_BROKER_URL"] = broker_url
    serve = env.start("serve", "--concurrency", "1", ready=WORKER_READY)
    create_running_campaign(env, "ip-week")
    assert "counted" in env.ok("log", "ip-week", "boards", "2")
    assert find_embedded_redis(env.data_dir) is None
    assert not (env.data_dir / "redis.conf").exists()
    assert _terminate(serve) == 0
