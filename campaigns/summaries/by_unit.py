"""The by-unit figures of a summary: each reporting unit's totals and share, and who reported.

Read from the by-unit rollup (`UnitRollup`), never from the tallies: a province's campaign
has a million of those. A unit's own row holds what it reported itself; the figures of a
unit listed here are its own plus every descendant's (`UnitDirectory.roll_up`), so a parent
always equals the sum of its children and its own. The organiser's own bureau (unit "")
comes last, as 本级, when it recorded anything.

A campaign with neither participants nor unit tallies gets no by-unit keys at all, so its
figures (and everything rendered from them) are exactly what they were before units.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from campaigns.models import Campaign, UnitRollup
from campaigns.planning.participants import CampaignProgress, progress_of
from campaigns.planning.unit_directory import UnitDirectory
from campaigns.planning.units import load_directory

# The organiser's own bureau as the table and the text name it.
ORGANISER = {"zh": "本级", "en": "organiser"}
# The leading units are named, shares shown and bars drawn for this many metrics at most:
# a 科技活动周 has eight headline metrics, and eight 其中 clauses would bury the text.
MAX_HEADLINE = 3
# The last character of a unit's name says its level: 全市, 7个县区.
_LEVELS = "省市州盟县区旗乡镇"


def unit_figures(
    campaign: Campaign,
    metrics: dict[str, dict[str, Any]],
    *,
    session: Session,
) -> dict[str, Any]:
    """`by_unit` and `reporting` for the figures; {} for a campaign without units.

    `metrics` are the figures' metrics (in their order, with their campaign totals).
    """
    own: dict[str, dict[str, int]] = defaultdict(dict)
    tallies: dict[str, int] = defaultdict(int)
    query = sql_select(
        col(UnitRollup.unit), col(UnitRollup.metric), col(UnitRollup.total), col(UnitRollup.tallies)
    ).where(col(UnitRollup.campaign_id) == campaign.id)
    for unit, metric, total, count in session.execute(query):
        own[unit][metric] = int(total)
        tallies[unit] += int(count)
    directory = load_directory(session=session)
    progress = progress_of(campaign, session=session, directory=directory)
    units_with_tallies = {code for code, count in tallies.items() if code and count}
    if not progress.participants and not units_with_tallies:
        return {}
    listed = _listed(directory, {p.code for p in progress.participants} | units_with_tallies)
    rows = _rows(directory, listed, own, tallies, metrics, progress)
    if tallies.get(""):
        organiser = {m: own[""].get(m, 0) for m in metrics}
        rows.append(
            {
                "code": "",
                "name": ORGANISER["zh"],
                "name_en": ORGANISER["en"],
                "depth": 0,
                "parent": None,
                "participant": False,
                "status": None,
                "own": organiser,
                "totals": dict(organiser),
                "tallies": tallies[""],
                "share": _shares(organiser, metrics),
            }
        )
    top = [r for r in rows if r["code"] and r["parent"] is None]
    figures: dict[str, Any] = {
        "by_unit": {
            "units": rows,
            "took_part": sum(1 for r in top if r["tallies"]),
            "organiser": bool(tallies.get("")),
            "scope": _scope(directory, [r["code"] for r in top]),
            "headline": _headline(metrics),
        }
    }
    if progress.participants:
        figures["reporting"] = _reporting(campaign, progress)
    return figures


def _listed(directory: UnitDirectory, codes: set[str]) -> list[str]:
    """`codes` in tree order; codes the directory no longer knows last, by code."""
    ordered = [unit.code for unit, _ in directory.walk() if unit.code in codes]
    return ordered + sorted(codes - set(ordered))


def _rows(
    directory: UnitDirectory,
    listed: list[str],
    own: dict[str, dict[str, int]],
    tallies: dict[str, int],
    metrics: dict[str, dict[str, Any]],
    progress: CampaignProgress,
) -> list[dict[str, Any]]:
    states = {p.code: p for p in progress.participants}
    # Every unit with rollup rows counts towards its ancestors, listed or not.
    coded = [code for code in own if code]
    rolled = {
        metric: directory.roll_up({c: own[c].get(metric, 0) for c in coded}, listed)
        for metric in metrics
    }
    rolled_tallies = directory.roll_up({c: tallies[c] for c in coded}, listed)
    shown = set(listed)
    rows = []
    for code in listed:
        above = [a for a in directory.ancestors(code) if a in shown] if code in directory else []
        totals = {metric: rolled[metric][code] for metric in metrics}
        state = states.get(code)
        rows.append(
            {
                "code": code,
                "name": directory.name_of(code),
                "depth": len(above),
                "parent": above[0] if above else None,
                "participant": state is not None,
                "status": _status(state) if state is not None else None,
                "own": {metric: own.get(code, {}).get(metric, 0) for metric in metrics},
                "totals": totals,
                "tallies": rolled_tallies[code],
                "share": _shares(totals, metrics),
            }
        )
    return rows


def _status(state: Any) -> str:
    if state.waived:
        return "waived"
    if state.reported_at is None:
        return "missing"
    return "late" if state.late else "reported"


def _shares(totals: dict[str, int], metrics: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """Each figure as a percentage of the campaign's total (None when that total is 0)."""
    shares: dict[str, float | None] = {}
    for metric, value in totals.items():
        whole = metrics[metric]["total"]
        shares[metric] = round(100 * value / whole, 1) if whole else None
    return shares


def _scope(directory: UnitDirectory, top: list[str]) -> dict[str, str] | None:
    """全市 and 县区 when the listed units are the counties of one city; None otherwise."""
    parents = {directory.by_code[c].parent for c in top if c in directory}
    if len(parents) != 1 or len(top) != sum(c in directory for c in top):
        return None
    (parent,) = parents
    if parent is None or parent not in directory:
        return None
    name = directory.name_of(parent)
    levels = {directory.name_of(c)[-1:] for c in top}
    if not name or name[-1] not in _LEVELS or not levels <= set(_LEVELS):
        return None
    if len(levels) == 1:
        noun = levels.pop()
    elif levels == {"县", "区"}:
        noun = "县区"
    elif levels == {"乡", "镇"}:
        noun = "乡镇"
    elif levels <= {"县", "市", "区"}:
        noun = "县（市、区）"
    else:
        return None
    return {"zh": f"全{name[-1]}", "noun": noun}


def _headline(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """The metrics the leading units are named for: the first with a total, in the figures'
    order, which puts the observance's headline metrics first as its report lists them."""
    return [metric for metric, m in metrics.items() if m["total"] > 0][:MAX_HEADLINE]


def _reporting(campaign: Campaign, progress: CampaignProgress) -> dict[str, Any]:
    zone = ZoneInfo(campaign.timezone)
    deadline = progress.deadline.astimezone(zone)
    # Reports are accepted through the local day before the deadline (its midnight after).
    last_day = (deadline - timedelta(microseconds=1)).date()

    def named(state: Any) -> dict[str, Any]:
        return {"code": state.code, "name": state.name}

    return {
        "participants": len(progress.participants),
        "reported": progress.reported,
        "waived": progress.waived,
        "missing": [named(p) for p in progress.missing],
        "waived_units": [
            {**named(p), "reason": p.reason} for p in progress.participants if p.waived
        ],
        "late": [named(p) for p in progress.participants if p.late],
        "complete": progress.complete,
        "deadline": deadline.isoformat(timespec="minutes"),
        "last_day": last_day.isoformat(),
        "progress": {"zh": progress.line("zh"), "en": progress.line("en")},
    }
