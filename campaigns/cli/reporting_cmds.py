"""The reporting cycle of a campaign: `participants`, `submit` and `progress`.

Who takes part, a unit saying it has reported (or the organiser waiving it), and who is
still missing. Once the last participant is in, the summary is compiled at once: `submit`
queues the compile after its commit, as a stored import does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from campaigns.cli._common import actor, console, session, table

if TYPE_CHECKING:
    from sqlmodel import Session

    from campaigns.models import Campaign
    from campaigns.planning.participants import CampaignProgress
    from campaigns.tallies.by_unit import UnitProgress

    Progress = tuple[CampaignProgress, list[UnitProgress], dict[str, str]]

app = typer.Typer(rich_markup_mode=None)

_ACTIONS = ("add", "remove", "list")
_STATUS_ZH = {"reported": "已报送", "late": "逾期报送", "waived": "免报", "missing": "未报送"}
_HOW_ZH = {"submitted": "确认报送", "imported": "导入", "waived": "免报"}


@app.command()
def participants(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    action: Annotated[str, typer.Argument(metavar="add|remove|list")] = "list",
    units: Annotated[
        list[str] | None, typer.Argument(metavar="UNIT...", help="Codes or names.")
    ] = None,
    under: Annotated[
        str | None, typer.Option("--under", help="add: every unit directly under this one.")
    ] = None,
) -> None:
    """Who takes part in a campaign: `participants ID add 浚县 淇县`, `remove`, `list`."""
    from campaigns.errors import InvalidInputError
    from campaigns.models import utcnow
    from campaigns.planning.campaigns import chosen_units, get_campaign
    from campaigns.planning.participants import add_participants, remove_participants
    from campaigns.planning.units import load_directory

    if action not in _ACTIONS:
        raise InvalidInputError(f"participants: {action!r} is not one of add, remove, list")
    names = [name for text in units or [] for name in text.replace("，", ",").split(",")]
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        directory = load_directory(session=s)
        if action == "list":
            if names or under:
                raise InvalidInputError("participants ID list takes no units")
        else:
            if not names and not under:
                raise InvalidInputError(f"participants ID {action}: name at least one unit")
            if under and action == "remove":
                raise InvalidInputError("--under is for add")
            codes = chosen_units(names, under, directory=directory)
            if action == "add":
                changed = add_participants(
                    campaign.id, codes, session=s, actor=actor(), now=utcnow()
                )
            else:
                changed = remove_participants(campaign.id, codes, session=s, actor=actor())
            verb = "加入" if action == "add" else "移出"
            shown = "、".join(directory.name_of(code) for code in changed) or "无变化"
            console().print(f"{verb}：{shown}", markup=False)
        progress_rows = _progress(campaign, s)
    _print_progress(campaign, progress_rows)


@app.command()
def submit(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    unit: Annotated[str, typer.Option("--unit", help="The unit (code or name).")],
    waive: Annotated[
        bool, typer.Option("--waive", help="The organiser excuses the unit from reporting.")
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why it is waived (required).")] = None,
) -> None:
    """A unit has sent everything (`submit ID --unit 浚县`), or is excused (`--waive`)."""
    from campaigns.errors import InvalidInputError
    from campaigns.models import CampaignStatus, ReportHow
    from campaigns.planning.campaigns import get_campaign
    from campaigns.planning.participants import mark_reported, participant_codes
    from campaigns.planning.units import load_directory

    if waive and not (reason and reason.strip()):
        raise InvalidInputError("--waive needs --reason: why the unit need not report")
    if reason and not waive:
        raise InvalidInputError("--reason goes with --waive")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        if campaign.status in (CampaignStatus.cancelled, CampaignStatus.reported):
            raise InvalidInputError(f"campaign {campaign.id} is {campaign.status}")
        directory = load_directory(session=s)
        code = directory.resolve(unit, where="--unit").code
        taking_part = participant_codes(campaign.id, session=s)
        if code not in taking_part:
            listed = "、".join(directory.name_of(c) for c in taking_part) or "无"
            raise InvalidInputError(
                f"{directory.name_of(code)} does not take part in {campaign.id};"
                f" those that do: {listed}"
            )
        how = ReportHow.waived if waive else ReportHow.submitted
        newly = mark_reported(
            campaign.id,
            [code],
            how=how,
            session=s,
            actor=actor(),
            reason=reason.strip() if reason else None,
        )
        closed = campaign.status == CampaignStatus.closed
        progress_rows = _progress(campaign, s)
    name = directory.name_of(code)
    if newly:
        said = "已免报" if waive else "已确认报送"
        console().print(f"{name}{said} ({name} {how.value})", markup=False)
    else:
        console().print(f"{name}此前已报送或已免报 ({name} had already reported)", markup=False)
    console().print(progress_rows[0].line("zh") + f" ({progress_rows[0].line('en')})")
    if newly and closed:
        from campaigns.cli.publish import enqueue_compile

        enqueue_compile(campaign.id)


@app.command()
def progress(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Who has reported: each participant, when, its tallies and totals, late or on time."""
    from campaigns.errors import InvalidInputError
    from campaigns.planning.campaigns import get_campaign

    if format not in ("table", "json"):
        raise InvalidInputError(f"--format {format!r}: table or json")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        progress_rows = _progress(campaign, s)
    if format == "json":
        typer.echo(json.dumps(_as_json(campaign, progress_rows), ensure_ascii=False, indent=2))
        return
    _print_progress(campaign, progress_rows)


def _progress(campaign: Campaign, s: Session) -> Progress:
    """The progress, each participant's row, and the metrics' Chinese names."""
    from campaigns.planning.campaigns import metric_catalogue
    from campaigns.tallies.by_unit import campaign_progress

    progress, rows = campaign_progress(campaign, session=s)
    catalogue = metric_catalogue(session=s)
    sent = {m for row in rows for m in row.totals}
    # In the catalogue's order (the report's), not the order the rollup rows came in.
    known = [m.id for m in catalogue if m.id in sent]
    metrics = known + sorted(sent - set(known))
    names = {metric: catalogue.get(metric).zh for metric in metrics}
    return progress, rows, names


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""


def _print_progress(campaign: Campaign, progress_rows: Progress) -> None:
    progress, rows, names = progress_rows
    if not rows:
        console().print(
            f"{campaign.id} 没有参与单位 (no participants): "
            f"campaigns participants {campaign.id} add UNIT..."
        )
        return
    zone = ZoneInfo(campaign.timezone)
    metrics = list(names)
    grid = table("单位 unit", "状态 status", "报送时间 reported", "方式 how", "条数 tallies")
    for metric in metrics:
        grid.add_column(names[metric], justify="right")
    for row in rows:
        status = f"{_STATUS_ZH[row.status]} {row.status}"
        how = _HOW_ZH.get(row.state.how or "", "")
        cells = [row.state.name, status, _local(row.state.reported_at, zone), how]
        cells += [str(row.tallies), *(str(row.totals.get(m, 0)) for m in metrics)]
        grid.add_row(*cells)
    console().print(grid)
    from campaigns.planning.participants import deadline_text

    deadline = deadline_text(progress.deadline, zone)
    console().print(f"{progress.line('zh')}；填报截止 {deadline} ({progress.line('en')})")


def _as_json(campaign: Campaign, progress_rows: Progress) -> dict[str, Any]:
    progress, rows, _ = progress_rows
    zone = ZoneInfo(campaign.timezone)
    return {
        "campaign": campaign.id,
        "deadline": progress.deadline.astimezone(zone).isoformat(),
        "participants": len(rows),
        "reported": progress.reported,
        "waived": progress.waived,
        "complete": progress.complete,
        "line": {"zh": progress.line("zh"), "en": progress.line("en")},
        "units": [
            {
                "code": row.state.code,
                "name": row.state.name,
                "status": row.status,
                "how": row.state.how,
                "reason": row.state.reason,
                "reported_at": (
                    row.state.reported_at.astimezone(zone).isoformat()
                    if row.state.reported_at
                    else None
                ),
                "late": row.state.late,
                "tallies": row.tallies,
                "totals": row.totals,
            }
            for row in rows
        ],
    }
