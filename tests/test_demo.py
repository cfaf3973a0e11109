"""`campaigns demo` from start to end, as a user runs it: real serve, workers, outbox.

The one test here takes as long as the demo (under a minute on an idle 2-core machine).
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path

from campaigns.runtime.embedded import find_embedded_redis
from campaigns.runtime.instance_lock import InstanceLock
from tests.conftest import CAMPAIGNS

KINDS = ("national-security-day", "world-ip-day", "sci-tech-week", "constitution-day")
RECIPIENTS = {"leader@bureau.example", "office@bureau.example"}


def _environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CAMPAIGNS_")}
    env.update(extra)
    return env


def test_demo_runs_to_the_end_and_mails_each_recipient_each_campaign(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    # Settings of the machine must not leak in: this broker does not exist.
    env = _environment(CAMPAIGNS_BROKER_URL="redis://127.0.0.1:1/0", CAMPAIGNS_SMTP_URL="smtp://x")
    result = subprocess.run(
        [CAMPAIGNS, "demo", "--data-dir", str(data_dir)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr + result.stdout

    outbox = sorted((data_dir / "outbox").glob("*.eml"))
    reminders = [path for path in outbox if "-reminder-" in path.name]
    summaries = [path for path in outbox if path not in reminders]
    recipients: dict[str, set[str]] = defaultdict(set)
    for path in summaries:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        kind = next(kind for kind in KINDS if path.name.split("-v")[0].endswith(kind))
        recipients[kind] |= {address.addr_spec for address in message["To"].addresses}
    # Eight summaries, each campaign to both recipients: one per recipient per campaign.
    assert len(summaries) == len(KINDS) * len(RECIPIENTS)
    assert recipients == dict.fromkeys(KINDS, RECIPIENTS)
    # The science week's one unit that had not reported got one reminder, and only it.
    [reminder] = reminders
    message = email.message_from_bytes(reminder.read_bytes(), policy=email.policy.default)
    assert "催报" in str(message["Subject"])
    assert [a.addr_spec for a in message["To"].addresses] == ["xunxian@units.example"]

    # The printed summary is the delivered one, in Chinese, with the sheet's exact totals.
    assert "科技活动周" in result.stdout and "主要数据" in result.stdout
    for path in outbox:
        assert str(path) in result.stdout
    chart = (
        data_dir
        / "charts"
        / next(p.name for p in (data_dir / "charts").glob("*-sci-tech-week.png"))
    )
    assert str(chart) in result.stdout
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    shown = _environment(CAMPAIGNS_DATA_DIR=str(data_dir))
    campaign_id = chart.stem
    figures = json.loads(
        subprocess.run(
            [CAMPAIGNS, "summary", campaign_id, "--format", "json"],
            env=shown,
            cwd=data_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )
    assert figures["campaign"]["status"] == "reported"
    # The bundled sheet (本级, 淇滨区, 高新区) and 浚县's, each counted once, by unit too.
    assert figures["metrics"]["materials"]["total"] == 5200 + 3036 + 2000 + 1800
    assert figures["metrics"]["attendance"]["total"] == 9860 + 1200
    by_unit = {u["name"]: u["totals"]["materials"] for u in figures["by_unit"]["units"]}
    assert by_unit == {"淇滨区": 3036, "浚县": 1800, "高新区": 2000, "本级": 5200}
    assert figures["reporting"]["complete"] is True
    assert figures["version"] == 1
    assert "按单位统计" in result.stdout

    # Nothing keeps running once the demo has finished.
    assert find_embedded_redis(data_dir) is None
    with InstanceLock(data_dir):
        pass


def test_demo_refuses_a_data_dir_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "campaigns.db").write_text("mine")
    result = subprocess.run(
        [CAMPAIGNS, "demo", "--data-dir", str(tmp_path)],
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"campaigns: --data-dir {tmp_path}: not an empty directory"
    assert (tmp_path / "campaigns.db").read_text() == "mine"
