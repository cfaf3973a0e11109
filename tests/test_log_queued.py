"""A `log` that no worker counts in time is still accepted: exit 0, and the key to repeat it.

Real Redis, no worker at first; then a real worker process counts what was queued.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.conftest import Env, create_running_campaign
from tests.servers import RedisServer

KEY = re.compile(r"\(key (\S+?);")


def _total(env: Env, metric: str) -> int:
    figures = json.loads(env.ok("summary", "ip-week", "--format", "json"))
    return int(figures["metrics"].get(metric, {}).get("total", 0))


def test_queued_log_exits_0_with_its_key_and_a_repeat_with_the_key_counts_once(
    env: Env, broker_url: str
) -> None:
    env.vars["CAMPAIGNS_BROKER_URL"] = broker_url
    create_running_campaign(env, "ip-week")

    first = env.run("log", "ip-week", "materials", "300", "--wait", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("queued: materials 300"), first.stdout
    assert first.stderr == ""
    match = KEY.search(first.stdout)
    assert match is not None, first.stdout
    key = match.group(1)
    assert f"--key {key}" in first.stdout

    # The user saw no "counted" and runs it again, this time with the printed key.
    again = env.run("log", "ip-week", "materials", "300", "--key", key, "--wait", "1")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("queued:") and key in again.stdout

    correction = env.run(
        "correct", "ip-week", "materials", "--reason", "typo", "--wait", "0", "--", "-20"
    )
    assert correction.returncode == 0, correction.stderr
    assert correction.stdout.startswith("queued: correction materials -20")
    correction_key = KEY.search(correction.stdout)
    assert correction_key is not None

    env.start("worker", "--concurrency", "1", ready="ready.")
    third = env.ok("log", "ip-week", "materials", "300", "--key", key)
    assert third.startswith("already counted: materials 300") and key in third
    repeated_correction = env.ok(
        "correct",
        "ip-week",
        "materials",
        "--reason",
        "typo",
        "--key",
        correction_key.group(1),
        "--",
        "-20",
    )
    assert repeated_correction.startswith("already counted: correction")
    assert _total(env, "materials") == 280


def test_counted_log_prints_its_key_as_typed(worker_env: Env) -> None:
    create_running_campaign(worker_env, "ip-week")
    out = worker_env.ok("log", "ip-week", "boards", "2")
    assert re.match(r"counted: boards 2 \(key \S+\)", out), out
    # Square brackets are Rich markup: a key typed with them is printed as typed.
    out = worker_env.ok("log", "ip-week", "boards", "1", "--key", "[bold]sheet-1")
    assert out.startswith("counted: boards 1 (key [bold]sheet-1)"), out
    assert _total(worker_env, "boards") == 3


def test_a_log_kept_while_the_broker_is_down_is_counted_once_it_is_back(
    env: Env, tmp_path: Path
) -> None:
    # A Redis that is configured but not running yet: the broker of an office whose server
    # is restarting. The tally's pending copy is committed before the broker is asked.
    with RedisServer() as broker:
        broker.stop()
        env.vars["CAMPAIGNS_BROKER_URL"] = broker.url
        env.vars["CAMPAIGNS_SWEEP_AFTER_SECONDS"] = "2"
        create_running_campaign(env, "ip-week")
        first = env.run("log", "ip-week", "boards", "4", "--wait", "1", timeout=180)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("queued: boards 4"), first.stdout
        assert "the broker did not answer" in first.stdout
        assert broker.url not in first.stdout + first.stderr
        key = KEY.search(first.stdout)
        assert key is not None
        sheet = tmp_path / "sheet.csv"
        sheet.write_text("metric,quantity,key\nboards,5,s1\nboards,6,s2\n", encoding="utf-8")
        imported = env.run("import", "ip-week", str(sheet), "--wait", timeout=180)
        assert imported.returncode == 0, imported.stderr
        assert "all 2 tallies are kept" in imported.stdout

        broker.start()
        env.start("worker", "--concurrency", "1", ready="ready.")
        deadline = time.monotonic() + 90
        while _total(env, "boards") < 15 and time.monotonic() < deadline:
            time.sleep(1)
        assert _total(env, "boards") == 15
        again = env.ok("log", "ip-week", "boards", "4", "--key", key.group(1))
        assert again.startswith("already counted: boards 4"), again
        assert _total(env, "boards") == 15
