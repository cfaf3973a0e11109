"""The outcome summary from stored tallies: figures and the tallies behind them, last year,
corrections, stored versions after a reopen, the chart file and the year's digest (CLI)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from campaigns.models import Campaign, Digest, Summary, Tally, utcnow
from campaigns.planning.lifecycle import close_campaign, reopen_campaign
from campaigns.runtime.dispatcher import run_dispatch
from campaigns.summaries.figures import compile_figures
from campaigns.summaries.versions import compile_digest
from campaigns.tallies.encoding import NewTally
from campaigns.tallies.store import store_tallies
from tests.conftest import Env
from tests.test_lifecycle import Sessions, local, make_campaign, sessions_for


def store(sessions: Sessions, campaign_id: str, *tallies: NewTally) -> None:
    with sessions() as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign is not None
        store_tallies(campaign, list(tallies), session=s)


def tally(metric: str, quantity: int, at: datetime, key: str, venue: str | None = None) -> NewTally:
    return NewTally(metric=metric, quantity=quantity, occurred_at=at, key=key, venue=venue)


def correction(metric: str, quantity: int, at: datetime, key: str, reason: str) -> NewTally:
    return NewTally(
        metric=metric,
        quantity=quantity,
        occurred_at=at,
        key=key,
        is_correction=True,
        reason=reason,
        recorded_by="王科长",
    )


def seed(sessions: Sessions) -> None:
    """2018 and 2019 World IP Day; 2019 with tallies over two days and two venues."""
    make_campaign(sessions, "2018-world-ip-day", date(2018, 4, 20), date(2018, 4, 26))
    store(sessions, "2018-world-ip-day", tally("materials", 250, local(2018, 4, 26, 10), "a"))
    make_campaign(sessions, "2019-world-ip-day", date(2019, 4, 20), date(2019, 4, 26))
    store(
        sessions,
        "2019-world-ip-day",
        tally("materials", 200, local(2019, 4, 25, 10), "m1", venue="新世纪广场"),
        tally("materials", 112, local(2019, 4, 26, 9), "m2", venue="科技馆"),
        tally("consultations", 615, local(2019, 4, 26, 11), "c1", venue="新世纪广场"),
        tally("boards", 2, local(2019, 4, 26, 8), "b1", venue="新世纪广场"),
    )


def test_figures_trace_every_total_to_its_tallies(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed(sessions)
        store(
            sessions,
            "2019-world-ip-day",
            correction("materials", -12, local(2019, 4, 26, 12), "fix1", "重复统计"),
        )
        with sessions() as s:
            campaign = s.get(Campaign, "2019-world-ip-day")
            assert campaign is not None
            figures = compile_figures(campaign, session=s)
            quantities = {
                metric: int(total)
                for metric, total in s.exec(
                    select(Tally.metric, func.sum(Tally.quantity))
                    .where(Tally.campaign_id == "2019-world-ip-day")
                    .group_by(col(Tally.metric))
                )
            }
    materials = figures["metrics"]["materials"]
    assert materials["zh"] == "宣传资料" and materials["en"] == "publicity materials"
    assert (materials["total"], materials["unit"]) == (300, "份")
    assert (materials["recorded"], materials["corrections"]) == (312, -12)
    assert (materials["tallies"], materials["correction_tallies"]) == (2, 1)
    assert materials["target"] == 300 and materials["reached_pct"] == 100.0
    assert materials["previous"] == 250 and materials["change_pct"] == 20.0
    assert figures["metrics"]["consultations"]["previous"] is None
    # The observance's order: boards, materials, consultations (as the report lists them).
    assert list(figures["metrics"]) == ["boards", "materials", "consultations"]
    for metric, m in figures["metrics"].items():
        assert m["total"] == quantities[metric]
        trace = figures["trace"][metric]
        assert trace["recorded"] + trace["corrections"] == m["total"]
        assert sum(trace["by_day"].values()) == trace["tallies"] + trace["correction_tallies"]
    assert figures["by_day"]["materials"] == {"2019-04-25": 200, "2019-04-26": 100}
    assert figures["by_venue"]["materials"] == {"": -12, "新世纪广场": 200, "科技馆": 112}
    assert figures["trace"]["materials"]["by_venue"] == {"": 1, "新世纪广场": 1, "科技馆": 1}
    [fix] = figures["corrections"]
    assert fix["quantity"] == -12 and fix["reason"] == "重复统计"
    assert fix["at"] == "2019-04-26T12:00+08:00"
    assert figures["previous_year"]["campaign_id"] == "2018-world-ip-day"


def test_reopen_correct_close_makes_version_2_saying_what_changed(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed(sessions)
        after_end = local(2019, 4, 27, 0, 5).astimezone(UTC)
        assert sorted(run_dispatch(sessions, now=after_end).reported) == [
            "2018-world-ip-day",
            "2019-world-ip-day",
        ]
        with sessions() as s:
            reopen_campaign("2019-world-ip-day", session=s, actor="organiser", reason="late sheet")
        store(
            sessions,
            "2019-world-ip-day",
            tally("materials", 30, local(2019, 4, 26, 15), "late"),
            correction("boards", -1, local(2019, 4, 26, 16), "fix", "一块展板未展出"),
        )
        with sessions() as s:
            close_campaign("2019-world-ip-day", session=s, actor="organiser")
        assert run_dispatch(sessions, now=utcnow()).reported == ["2019-world-ip-day"]
        with sessions() as s:
            rows = s.exec(
                select(Summary)
                .where(Summary.campaign_id == "2019-world-ip-day")
                .order_by(col(Summary.version))
            ).all()
    assert [r.version for r in rows] == [1, 2]
    assert rows[0].changes is None
    changes = json.loads(rows[1].changes or "")
    assert changes["from_version"] == 1
    assert changes["totals"] == [
        {"metric": "boards", "before": 2, "after": 1},
        {"metric": "materials", "before": 312, "after": 342},
    ]
    assert [c["reason"] for c in changes["corrections"]] == ["一块展板未展出"]

    text = env.ok("summary", "2019-world-ip-day")
    assert "本稿为第2版，较第1版：展板由2块调整为1块，宣传资料由312份调整为342份。" in text
    first = env.ok("summary", "2019-world-ip-day", "--version", "1", "--exact")
    assert "发放宣传资料312份" in first and "第2版" not in first
    listing = env.ok("summaries", "2019-world-ip-day")
    assert "materials: 312 → 342" in listing and "final" in listing
    missing = env.run("summary", "2019-world-ip-day", "--version", "7")
    assert missing.returncode == 1 and "no summary version 7" in missing.stderr


def test_json_chart_and_the_years_digest_from_the_cli(env: Env, tmp_path: Path) -> None:
    with sessions_for(env) as (_, sessions):
        seed(sessions)
        make_campaign(sessions, "2019-constitution-day", date(2019, 12, 1), date(2019, 12, 7))
        run_dispatch(sessions, now=local(2019, 4, 26, 20).astimezone(UTC))

    chart = tmp_path / "ip.png"
    shown = env.ok("summary", "2019-world-ip-day", "--format", "json", "--chart", str(chart))
    figures = json.loads(shown)
    assert figures["trace"]["materials"]["tallies"] == 2
    assert figures["metrics"]["materials"]["total"] == 312
    image = Image.open(io.BytesIO(chart.read_bytes()))
    assert image.format == "PNG" and image.size == (1200, 600)
    grey = image.convert("L")
    dark = sum(grey.histogram()[:128])
    assert dark > 2000, "the chart is (nearly) blank"
    assert sum(1 for n in grey.histogram() if n) > 10
    bad = env.run("summary", "2019-world-ip-day", "--chart", str(tmp_path / "no" / "x.png"))
    assert bad.returncode == 1 and "does not exist" in bad.stderr

    digest = env.ok("digest", "--year", "2019")
    assert digest.startswith("2019年宣传活动阶段性统计")
    assert "截至4月26日" in digest and "累计展出展板2块，发放宣传资料300余份" in digest
    assert "宪法" not in digest  # scheduled, not running
    english = env.ok("digest", "--year", "2019", "--lang", "en", "--format", "json")
    [item] = json.loads(english)
    assert item["kind"] == "digest" and item["campaign"]["id"] == "2019-world-ip-day"
    nothing = env.ok("digest", "--year", "2030")
    assert "暂无进行中的宣传活动" in nothing


def test_one_digest_per_campaign_and_day_is_a_database_rule(env: Env) -> None:
    with sessions_for(env) as (_, sessions):
        seed(sessions)
        run_dispatch(sessions, now=local(2019, 4, 25, 9).astimezone(UTC))
        day = date(2019, 4, 25)
        with sessions() as s:
            digest = compile_digest("2019-world-ip-day", day, session=s, actor="t")
            assert digest is not None and digest.version == -1 and not digest.final
        with sessions() as s:
            assert compile_digest("2019-world-ip-day", day, session=s, actor="t") is None
        # Even written past the domain code, a second digest for the day is refused.
        with pytest.raises(IntegrityError), sessions() as s:
            other = Summary(
                campaign_id="2019-world-ip-day",
                version=-2,
                final=False,
                compiled_at=utcnow(),
                figures="{}",
            )
            s.add(other)
            s.flush()
            assert other.id is not None
            s.add(
                Digest(
                    campaign_id="2019-world-ip-day",
                    day=day,
                    summary_id=other.id,
                    created_at=utcnow(),
                )
            )
            s.flush()
