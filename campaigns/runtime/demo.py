"""`campaigns demo`: the whole pipeline on a fresh machine, in under a minute, nothing faked.

A throwaway data dir gets its own `campaigns serve` (SQLite, embedded Redis, outbox) whose
dispatcher ticks every two seconds. The year's four observances are created through the
normal planning code, with windows of seconds instead of weeks; the bundled Chinese sample
sheets go in through the `campaigns import --wait` command (called in this process, which
saves four interpreter start-ups on a small machine); from then on the real workers open,
close, summarise and deliver every campaign to the outbox, and the demo only watches the
database until every delivery is sent. The science week runs the reporting cycle
(`demo_units`): three units, one reminded before it sends its sheet, and a summary that
waits for all three.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campaigns.errors import CampaignsError, InvalidInputError
from campaigns.runtime import demo_units
from campaigns.runtime.serve import campaigns_command, serving_in_background

Say = Callable[[str], None]
# (campaign id, sheet, reporting unit or None for the organiser's own rows)
ImportSheet = Callable[[str, Path, str | None], None]

TIMEZONE = "Asia/Shanghai"
DISPATCH_INTERVAL_SECONDS = 2
SHOWN_KIND = "sci-tech-week"
RECIPIENTS = (("leader@bureau.example", "局长"), ("office@bureau.example", "办公室"))
VENUES = {
    "national-security-day": "新世纪广场",
    "world-ip-day": "新世纪广场",
    "sci-tech-week": "市民广场",
    "constitution-day": "华山路社区",
}
TARGETS = {
    "world-ip-day": {"materials": 300},
    "sci-tech-week": {"materials": 10000, "attendance": 10000},
}
# Seconds after creation: the first campaign opens, then each of the others a second later;
# the first closes after CLOSE_AFTER, the others a second apart. The imports (a few
# seconds) must be counted before the first close, or that summary would miss them.
OPEN_AFTER = 2.0
CLOSE_AFTER = 10.0
STAGGER_OPEN = 1.0
STAGGER_CLOSE = 1.0


_UNDER_WAY = ("queued", "sending", "sent")


class DemoError(CampaignsError):
    pass


@dataclass(frozen=True)
class DemoResult:
    data_dir: Path
    shown_id: str
    summary_zh: str
    emails: list[Path]
    chart: Path
    year_report: Path
    serve_log: Path
    seconds: float


def run_demo(
    data_dir: Path | None,
    *,
    report: Say,
    import_sheet: ImportSheet,
    timeout: float = 120.0,
) -> DemoResult:
    """Run the demo; this process then works on the demo's data dir and broker only.

    `import_sheet(campaign_id, path)` is the CLI's own `import … --wait`, handed in by the
    command so the demo shows exactly what a user's import does without importing the CLI.
    """
    from campaigns.runtime.embedded import find_embedded_redis

    started = time.monotonic()

    def say(message: str) -> None:
        report(f"[{time.monotonic() - started:5.1f} s] {message}")

    data_dir = _fresh_data_dir(data_dir)
    env = demo_environment(data_dir)
    serve_log = data_dir / "serve.log"
    say(f"data dir {data_dir}; starting campaigns serve (log: {serve_log})")
    with serving_in_background(
        campaigns_command("serve"), env=env, data_dir=data_dir, log=serve_log, timeout=120
    ) as serve_process:

        def alive() -> bool:
            return serve_process.poll() is None

        server = find_embedded_redis(data_dir)
        if server is None:
            raise DemoError(f"the embedded Redis went away; see {serve_log}")
        _use_demo_installation(env, broker_url=server.broker_url, data_dir=data_dir)
        _wait_for_worker(server.broker_url, timeout=120, serve_log=serve_log, alive=alive)
        say("worker ready")
        ids, closes = _plan(say=say)
        later = _import_samples(ids, data_dir=data_dir, import_sheet=import_sheet)
        if datetime.now(UTC) >= closes:
            raise DemoError(
                "this machine is too busy: the sample tallies were counted only after the "
                "first campaign had closed; try again when it is idle"
            )
        _load_charting()
        _units_report_late(
            ids[SHOWN_KIND],
            later,
            import_sheet=import_sheet,
            say=say,
            alive=alive,
            outbox=data_dir / "outbox",
        )
        _wait_until_delivered(ids, timeout=timeout, say=say, alive=alive)
        figures = _delivered_figures(ids[SHOWN_KIND])
        # Drawn while serve shuts down (the block's end waits for it).
        serve_process.send_signal(signal.SIGTERM)
        chart = _draw_chart(data_dir, ids[SHOWN_KIND], figures)
        year_report = _write_year_report(data_dir, int(figures["campaign"]["year"]))
    say("campaigns serve stopped")
    return DemoResult(
        data_dir=data_dir,
        shown_id=ids[SHOWN_KIND],
        summary_zh=_render_zh(figures),
        emails=sorted((data_dir / "outbox").glob("*.eml")),
        chart=chart,
        year_report=year_report,
        serve_log=serve_log,
        seconds=time.monotonic() - started,
    )


def demo_environment(data_dir: Path) -> dict[str, str]:
    """The environment of every demo process: none of the machine's CAMPAIGNS_* settings
    (no configured database, broker or SMTP server), the throwaway data dir, a fast clock."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CAMPAIGNS_")}
    env.update(
        CAMPAIGNS_DATA_DIR=os.fspath(data_dir),
        CAMPAIGNS_TIMEZONE=TIMEZONE,
        CAMPAIGNS_DISPATCH_INTERVAL_SECONDS=str(DISPATCH_INTERVAL_SECONDS),
        CAMPAIGNS_ACTOR="demo",
        # The demo's minutes-long campaigns may span local midnight: no evening digests.
        CAMPAIGNS_DIGEST_TIME="off",
        CAMPAIGNS_REMIND_BEFORE_HOURS=f"{demo_units.REMIND_BEFORE_SECONDS / 3600:.6f}",
    )
    return env


def _use_demo_installation(env: dict[str, str], *, broker_url: str, data_dir: Path) -> None:
    """Point this process's settings at the demo, so the tallies go through the very
    `campaigns import` code. Database and broker are named outright: a `.env` file in the
    working directory must not redirect them."""
    from campaigns.db import reset_engine
    from campaigns.settings import get_settings

    for key in [key for key in os.environ if key.startswith("CAMPAIGNS_")]:
        del os.environ[key]
    os.environ.update({key: value for key, value in env.items() if key.startswith("CAMPAIGNS_")})
    os.environ["CAMPAIGNS_DATABASE_URL"] = f"sqlite:///{data_dir / 'campaigns.db'}"
    os.environ["CAMPAIGNS_BROKER_URL"] = broker_url
    get_settings.cache_clear()
    reset_engine()


def _fresh_data_dir(data_dir: Path | None) -> Path:
    if data_dir is None:
        return Path(tempfile.mkdtemp(prefix="campaigns-demo-")).resolve()
    data_dir = data_dir.resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise InvalidInputError(f"--data-dir {data_dir}: not an empty directory")
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def _wait_for_worker(
    broker_url: str, *, timeout: float, serve_log: Path, alive: Callable[[], bool]
) -> None:
    """Until a worker answers a ping: campaign windows are seconds long, so they must not
    start while the worker is still starting."""
    import redis
    from celery import Celery
    from kombu.exceptions import OperationalError

    probe = Celery("campaigns-demo", broker=broker_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if probe.control.ping(timeout=0.5):
                    return
            except (OSError, redis.RedisError, OperationalError):
                pass  # Redis went away with serve: said below
            if not alive():
                raise DemoError(f"campaigns serve stopped while starting; see {serve_log}")
            if time.monotonic() > deadline:
                raise DemoError(f"no worker answered within {timeout:g} s; see {serve_log}")
    finally:
        probe.close()


def _plan(*, say: Say) -> tuple[dict[str, str], datetime]:
    """The year's four observances with windows of seconds, and the recipients.

    Returns kind -> campaign id, and when the first campaign closes.
    """
    from campaigns.audit import current_actor
    from campaigns.db import session_scope
    from campaigns.delivery.recipients import add_recipient
    from campaigns.planning.campaigns import CampaignSpec, create_campaign
    from campaigns.planning.observances import year_calendar

    zone = ZoneInfo(TIMEZONE)
    now = datetime.now(zone)
    ids: dict[str, str] = {}
    closes: list[datetime] = []
    with session_scope() as session:
        demo_units.add_units(session=session, actor=current_actor())
        for index, entry in enumerate(year_calendar(now.year)):
            kind = entry.observance.kind
            start = now + timedelta(seconds=OPEN_AFTER + index * STAGGER_OPEN)
            end = now + timedelta(seconds=CLOSE_AFTER + index * STAGGER_CLOSE)
            spec = CampaignSpec(
                kind=kind,
                year=now.year,
                venue=VENUES[kind],
                targets=TARGETS.get(kind, {}),
                timezone=TIMEZONE,
                start_at=start,
                end_at=end,
            )
            if kind == SHOWN_KIND:
                spec = replace(
                    spec,
                    units=demo_units.PARTICIPANTS,
                    report_by=end + timedelta(seconds=demo_units.REPORT_AFTER_END),
                )
            campaign = create_campaign(spec, session=session, actor=current_actor())
            ids[kind] = campaign.id
            closes.append(end)
            say(
                f"created {campaign.id} ({campaign.title}): "
                f"opens {start:%H:%M:%S}, closes {end:%H:%M:%S}"
            )
        for address, name in RECIPIENTS:
            add_recipient(address, name=name, session=session, actor=current_actor())
        say(f"recipients: {', '.join(address for address, _ in RECIPIENTS)}")
    return ids, min(closes)


def _import_samples(
    ids: dict[str, str], *, data_dir: Path, import_sheet: ImportSheet
) -> dict[str, Path]:
    """`campaigns import ID FILE --wait` for each bundled sheet, copied into the data dir;
    of the science week's, the organiser's own and one unit's now. Returns the sheets the
    other units send later (unit -> sheet)."""
    samples = data_dir / "samples"
    samples.mkdir()
    later: dict[str, Path] = {}
    for kind, campaign_id in ids.items():
        if kind == SHOWN_KIND:
            sheets = demo_units.split_sample(kind, samples)
            import_sheet(campaign_id, sheets.pop(None), None)
            first = demo_units.PARTICIPANTS[0]
            import_sheet(campaign_id, sheets.pop(first), first)
            later = {unit: sheet for unit, sheet in sheets.items() if unit is not None}
            continue
        sheet = samples / f"{kind}.csv"
        source = resources.files("campaigns").joinpath("data", f"demo-{kind}.csv")
        sheet.write_bytes(source.read_bytes())
        import_sheet(campaign_id, sheet, None)
    return later


def _units_report_late(
    campaign_id: str,
    later: dict[str, Path],
    *,
    import_sheet: ImportSheet,
    say: Say,
    alive: Callable[[], bool],
    outbox: Path,
) -> None:
    """After the end, one unit's sheet arrives; the last unit is reminded, then sends its."""
    from campaigns.db import session_scope
    from campaigns.models import CampaignStatus
    from campaigns.planning.campaigns import get_campaign

    late = demo_units.LATE_UNIT
    deadline = time.monotonic() + 60
    while True:
        with session_scope() as session:
            status = get_campaign(campaign_id, session=session).status
        if status != CampaignStatus.running and status != CampaignStatus.scheduled:
            break
        if not alive() or time.monotonic() > deadline:
            raise DemoError(f"{campaign_id} did not close")
        time.sleep(0.3)
    say(f"{campaign_id}: {status}, waiting for its units' sheets")
    for unit, sheet in later.items():
        if unit != late:
            import_sheet(campaign_id, sheet, unit)
            say(f"{campaign_id}: {unit}'s sheet arrived after the end")
    try:
        demo_units.wait_for_reminder(late, timeout=60, alive=alive)
    except TimeoutError as error:
        raise DemoError(f"{campaign_id}: {error}") from None
    say(f"{campaign_id}: reminded {late}: {demo_units.reminder_subject(outbox)}")
    import_sheet(campaign_id, later[late], late)
    say(f"{campaign_id}: {late}'s sheet is in: every unit has reported")


def _wait_until_delivered(
    ids: dict[str, str], *, timeout: float, say: Say, alive: Callable[[], bool]
) -> None:
    """Watch the workers move every campaign to `reported` and send every delivery."""
    from campaigns.db import session_scope
    from campaigns.delivery.deliveries import list_deliveries
    from campaigns.models import CampaignStatus, DeliveryStatus
    from campaigns.planning.campaigns import get_campaign

    shown: dict[str, str] = {}
    pending = set(ids.values())
    deadline = time.monotonic() + timeout
    while pending:
        if not alive():
            raise DemoError("campaigns serve stopped before every summary was delivered")
        if time.monotonic() > deadline:
            raise DemoError(f"not delivered after {timeout:g} s: {', '.join(sorted(pending))}")
        with session_scope() as session:
            for campaign_id in sorted(pending):
                status = str(get_campaign(campaign_id, session=session).status)
                if shown.get(campaign_id) != status:
                    say(f"{campaign_id}: {status}")
                    shown[campaign_id] = status
                if status != CampaignStatus.reported:
                    continue
                rows = list_deliveries(session=session, campaign_id=campaign_id)
                for row in rows:
                    # The outbox has no passing trouble: anything but success is a fault.
                    if row.delivery.status not in _UNDER_WAY:
                        raise DemoError(
                            f"{campaign_id}: delivery {row.delivery.id} is "
                            f"{row.delivery.status}: {row.delivery.last_error}"
                        )
                if rows and all(row.delivery.status == DeliveryStatus.sent for row in rows):
                    say(f"{campaign_id}: delivered to {len(rows)} recipients")
                    pending.discard(campaign_id)
        time.sleep(0.5)


def _delivered_figures(campaign_id: str) -> dict[str, Any]:
    from campaigns.db import session_scope
    from campaigns.summaries.versions import latest_summary

    with session_scope() as session:
        summary = latest_summary(campaign_id, session=session)
        if summary is None:
            raise DemoError(f"{campaign_id}: no summary")
        figures: dict[str, Any] = json.loads(summary.figures)
    return figures


def _load_charting() -> None:
    """Load matplotlib and the CJK font now, while the campaigns run and the CPU is idle,
    rather than after the deliveries, where it would add seconds to the end."""
    from campaigns.summaries.chart import render_daily_chart_bytes

    render_daily_chart_bytes({}, title="宣传活动")


def _draw_chart(data_dir: Path, campaign_id: str, figures: dict[str, Any]) -> Path:
    from campaigns.summaries.chart import render_daily_chart
    from campaigns.summaries.render import chart_series, heading

    charts = data_dir / "charts"
    charts.mkdir(exist_ok=True)
    return render_daily_chart(
        chart_series(figures), title=heading(figures, "zh"), path=charts / f"{campaign_id}.png"
    )


def _write_year_report(data_dir: Path, year: int) -> Path:
    """The year's section of the four reported campaigns, as `campaigns report` writes it."""
    from campaigns.db import session_scope
    from campaigns.reports.render import render_year_report

    path = data_dir / f"year-report-{year}.docx"
    with session_scope() as session:
        path.write_bytes(render_year_report(year, session=session, fmt="docx"))
    return path


def _render_zh(figures: dict[str, Any]) -> str:
    from campaigns.summaries.render import render

    return render(figures, lang="zh", fmt="text")
