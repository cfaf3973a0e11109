"""The reporting cycle on real parts: CLI → Redis → a Celery worker and beat → database →
the test's SMTP server. Three units send their sheets before the end (the last one queued,
not waited for, just before it), the two missing are reminded once each, one is waived,
the other's sheet comes after the end, and the summary goes then (not before); a second
campaign's deadline passes with a unit missing and its summary says so."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, timedelta

from tests.conftest import Env
from tests.smtp_server import SmtpTestServer

UNITS = """编码,名称,上级,联系方式
410600,鹤壁市,,
410602,鹤山区,410600,heshan@units.example
410603,山城区,410600,shancheng@units.example
410611,淇滨区,410600,qibin@units.example
410621,浚县,410600,xunxian@units.example
410622,淇县,410600,qixian@units.example
"""
LEADER = "leader@bureau.example"


def _sheet(env: Env, name: str, materials: int, attendance: int, day: date) -> str:
    path = env.data_dir / f"{name}.csv"
    path.write_text(
        f"指标,数量,时间\n宣传资料,{materials},{day}\n参与人次,{attendance},{day}\n",
        encoding="utf-8",
    )
    return path.name


def _wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _to(server: SmtpTestServer, address: str) -> list[str]:
    """The subjects of the mails the server took for `address`."""
    return [str(m.message["Subject"]) for m in server.messages if address in m.rcpt_tos]


def _summary_to_leader(server: SmtpTestServer, year: str) -> bool:
    return any(year in subject for subject in _to(server, LEADER))


def test_the_cycle_runs_by_itself(worker_env: Env, smtp_server: SmtpTestServer) -> None:
    env = worker_env
    env.stop_all()
    env.processes.clear()
    env.vars.update(
        CAMPAIGNS_SMTP_URL=f"smtp://{smtp_server.host}:{smtp_server.port}",
        CAMPAIGNS_DISPATCH_INTERVAL_SECONDS="1",
        CAMPAIGNS_DIGEST_TIME="off",
        # The deadline is two to three days away: every unit missing then is reminded.
        CAMPAIGNS_REMIND_BEFORE_HOURS="96",
    )
    env.start("worker", "--concurrency", "1", ready="ready.")
    (env.data_dir / "units.csv").write_text(UNITS, encoding="utf-8")
    env.ok("units", "import", "units.csv")
    env.ok("recipients", "add", LEADER, "--name", "局长")
    today = date.today()
    yesterday = today - timedelta(days=1)
    year = str(today.year)
    env.ok(
        "create",
        "constitution-day",
        "--year",
        year,
        "--id",
        "cycle",
        "--start",
        str(yesterday),
        "--end",
        str(today + timedelta(days=1)),
        "--report-by",
        str(today + timedelta(days=2)),
        "--units-under",
        "鹤壁市",
    )
    # Last December's campaign: its deadline (10 December 2025) has passed, 淇县 never sent.
    env.ok(
        "create", "constitution-day", "--year", "2025", "--id", "overdue", "--units", "浚县,淇县"
    )
    overdue_sheet = _sheet(env, "overdue-浚县", 500, 80, date(2025, 12, 4))
    env.ok("import", "overdue", overdue_sheet, "--unit", "浚县", "--wait")

    for unit, materials in (("鹤山区", 1200), ("山城区", 800)):
        sheet = _sheet(env, f"cycle-{unit}", materials, 100, yesterday)
        env.ok("import", "cycle", sheet, "--unit", unit, "--wait")
    # The third just before the end, queued and not waited for; the end right after it.
    env.ok("import", "cycle", _sheet(env, "cycle-淇滨区", 3000, 600, today), "--unit", "淇滨区")
    env.ok("close", "cycle")
    # Its chunks are stored by the worker meanwhile (before the dispatcher runs, or 淇滨区
    # could be reminded of a sheet it has sent).
    _wait_for(
        lambda: json.loads(env.ok("progress", "cycle", "--format", "json"))["reported"] == 3,
        timeout=60,
        what="the queued import",
    )

    env.start("beat")
    # The two still missing are reminded, once each, at their contacts.
    _wait_for(
        lambda: (
            bool(_to(smtp_server, "xunxian@units.example"))
            and bool(_to(smtp_server, "qixian@units.example"))
        ),
        timeout=90,
        what="the reminders",
    )
    _wait_for(lambda: _summary_to_leader(smtp_server, "2025"), timeout=60, what="overdue summary")
    time.sleep(3)  # three more dispatcher passes
    for address in ("xunxian@units.example", "qixian@units.example"):
        [subject] = _to(smtp_server, address)
        assert "催报" in subject
    for address in ("heshan@units.example", "shancheng@units.example", "qibin@units.example"):
        assert _to(smtp_server, address) == []
    # Closed, three of five in: no summary yet.
    assert not _summary_to_leader(smtp_server, year)
    assert json.loads(env.ok("progress", "cycle", "--format", "json"))["reported"] == 3

    env.ok("submit", "cycle", "--unit", "淇县", "--waive", "--reason", "未开展活动")
    time.sleep(2)
    assert not _summary_to_leader(smtp_server, year)
    late_sheet = _sheet(env, "cycle-浚县", 1800, 400, today)
    env.ok("import", "cycle", late_sheet, "--unit", "浚县", "--wait")
    _wait_for(lambda: _summary_to_leader(smtp_server, year), timeout=30, what="the summary")

    figures = json.loads(env.ok("summary", "cycle", "--format", "json"))
    assert figures["campaign"]["status"] == "reported"
    assert figures["version"] == 1
    # Every sheet counted, the queued one too.
    assert figures["metrics"]["materials"]["total"] == 1200 + 800 + 3000 + 1800
    assert figures["reporting"]["complete"] is True
    assert [u["name"] for u in figures["reporting"]["waived_units"]] == ["淇县"]
    by_unit = {u["name"]: u["totals"]["materials"] for u in figures["by_unit"]["units"]}
    assert by_unit["淇滨区"] == 3000 and by_unit["浚县"] == 1800
    progress = json.loads(env.ok("progress", "cycle", "--format", "json"))
    assert progress["line"]["en"] == "4 of 5 units reported (80%), 1 waived"
    summaries = [s for s in _to(smtp_server, LEADER) if year in s]
    assert len(summaries) == 1

    overdue_figures = json.loads(env.ok("summary", "overdue", "--format", "json"))
    assert [u["name"] for u in overdue_figures["reporting"]["missing"]] == ["淇县"]
    text = env.ok("summary", "overdue")
    assert "淇县尚未报送" in text
    deliveries = env.ok("deliveries", "cycle")
    assert "催报" in deliveries or "reminder" in deliveries
