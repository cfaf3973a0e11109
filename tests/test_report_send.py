"""The year's report sent on schedule: a real worker and beat, Redis, an SMTP server.

`CAMPAIGNS_YEAR_REPORT_ON` is set to today, so last year's report is due now: it goes to
the leader once, as a .docx and a PDF; a correction to one of last year's campaigns makes
version 2, which says what changed, sent once; nothing else is sent twice. Then
`campaigns report --send` with nothing changed sends nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from campaigns.db import make_engine
from campaigns.models import Campaign, YearReportVersion
from campaigns.planning.campaigns import CampaignSpec, create_campaign
from campaigns.planning.lifecycle import close_campaign, reopen_campaign
from campaigns.summaries.versions import compile_final_summary
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env
from tests.smtp_server import SmtpTestServer

LEADER = "leader@bureau.example"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _last_years_campaigns(env: Env, year: int) -> None:
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        for kind, counts in (
            ("world-ip-day", {"boards": 2, "materials": 312, "consultations": 620}),
            ("constitution-day", {"materials": 4800, "attendance": 1300}),
        ):
            with Session(engine) as session:
                campaign = create_campaign(
                    CampaignSpec(
                        kind=kind, year=year, partners="市司法局", activity_forms="现场咨询"
                    ),
                    session=session,
                    actor="tester",
                )
                at = campaign.start_at.astimezone(SHANGHAI).replace(hour=10)
                store_tallies(
                    campaign,
                    [NewTally(m, q, at, key=f"{kind}-{m}") for m, q in counts.items()],
                    session=session,
                )
                campaign_id = campaign.id
                close_campaign(campaign_id, session=session, actor="tester")
                session.commit()
            with Session(engine) as session:
                assert compile_final_summary(campaign_id, session=session, actor="tester")
                session.commit()
    finally:
        engine.dispose()


def _correct(env: Env, campaign_id: str, metric: str, delta: int) -> None:
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            campaign = reopen_campaign(campaign_id, session=session, actor="tester", reason="补报")
            at = campaign.start_at.astimezone(SHANGHAI).replace(hour=11)
            correction = NewTally(
                metric, delta, at, key="late", is_correction=True, reason="县里补报"
            )
            store_tallies(campaign, [correction], session=session)
            session.commit()
    finally:
        engine.dispose()


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.5)


def _reports(server: SmtpTestServer) -> list[EmailMessage]:
    return [m.message for m in server.messages if "年度" in str(m.message["Subject"])]


def _attachment_names(message: EmailMessage) -> list[str]:
    return sorted(part.get_filename() or "" for part in message.iter_attachments())


def test_the_past_years_report_goes_out_once_per_version(
    env: Env, broker_url: str, smtp_server: SmtpTestServer
) -> None:
    today = datetime.now(SHANGHAI).date()
    last_year = today.year - 1
    env.vars.update(
        CAMPAIGNS_BROKER_URL=broker_url,
        CAMPAIGNS_SMTP_URL=f"smtp://{smtp_server.host}:{smtp_server.port}",
        CAMPAIGNS_YEAR_REPORT_ON=f"{today:%m-%d}",
        CAMPAIGNS_DISPATCH_INTERVAL_SECONDS="1",
        CAMPAIGNS_DIGEST_TIME="off",
        CAMPAIGNS_ORG_NAME="鹤壁市司法局",
    )
    _last_years_campaigns(env, last_year)
    env.ok("recipients", "add", LEADER, "--name", "局长")
    env.start("worker", "--concurrency", "1", ready="ready.")
    env.start("beat")

    _wait(lambda: len(_reports(smtp_server)) >= 1, "version 1 of the report")
    first = _reports(smtp_server)[0]
    assert str(first["Subject"]) == f"鹤壁市司法局关于{last_year}年度宣传活动开展情况的报告"
    assert _attachment_names(first) == [
        f"{last_year}年度报告-v1.docx",
        f"{last_year}年度报告-v1.pdf",
    ]
    text = first.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "市司法局" in body and "现场咨询" in body and "4800份" in body, body

    # A correction to last year's Constitution Day, reopened and corrected in one go (with
    # a dispatcher ticking every second, `reopen` then `correct` would race it): its summary
    # v2 follows from the dispatcher, then the report's v2.
    constitution = f"{last_year}-constitution-day"
    _correct(env, constitution, "materials", 200)
    _wait(lambda: len(_reports(smtp_server)) >= 2, "version 2 of the report")
    second = _reports(smtp_server)[1]
    assert str(second["Subject"]).endswith("（第2版）")
    second_text = second.get_body(("plain",))
    assert second_text is not None
    changed = second_text.get_content()
    assert changed.startswith("较第1版："), changed[:200]
    assert "5000份" in changed.split("\n", 1)[0], changed[:200]

    time.sleep(5)  # another dispatcher pass or two: nothing more may go out
    assert len(_reports(smtp_server)) == 2
    assert [m.rcpt_tos for m in smtp_server.messages if "年度" in str(m.message["Subject"])] == [
        (LEADER,),
        (LEADER,),
    ]
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            versions = session.exec(select(YearReportVersion.version)).all()
            assert sorted(versions) == [1, 2]
            assert session.get(Campaign, constitution) is not None
    finally:
        engine.dispose()
    unchanged = env.ok("report", str(last_year), "--send")
    assert "nothing new to send" in unchanged, unchanged
    deliveries = env.ok("deliveries")
    assert deliveries.count(f"year-report-{last_year}") == 2, deliveries


def test_report_send_without_a_broker_writes_nothing(env: Env) -> None:
    result = env.run("report", str(date.today().year - 1), "--send")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "broker" in result.stderr, result.stderr
    engine = make_engine(env.vars["CAMPAIGNS_DATABASE_URL"])
    try:
        with Session(engine) as session:
            assert session.exec(select(YearReportVersion)).all() == []
    finally:
        engine.dispose()
