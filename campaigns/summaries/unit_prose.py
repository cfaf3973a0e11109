"""The narrative's sentences about reporting units, Chinese and English, from `by_unit` and
`reporting` in the figures (see `summaries.by_unit`).

全市7个县区共……，其中浚县发放宣传资料1.8万余份 names how many units took part and, for each
headline metric, the unit that did most; a final summary with units still missing says so
(截至12月10日，淇县、鹤山区尚未报送。), and a digest carries the reporting progress. `prose`
passes in how it phrases one metric's figure, so the clauses read like the rest of the text.
Figures without units give "" or None everywhere, and the narrative is what it always was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

Figures = dict[str, Any]
# How `prose` phrases a metric's figure: (metric id, value) -> 发放宣传资料1.8万余份.
Clause = Callable[[str, int], str]


def _by_unit(figures: Figures) -> dict[str, Any] | None:
    by_unit = figures.get("by_unit")
    return by_unit if by_unit and by_unit.get("took_part") else None


def zh_scope(figures: Figures) -> str | None:
    """全市7个县区 (及本级 when the organiser recorded too), or None without units."""
    by_unit = _by_unit(figures)
    if by_unit is None:
        return None
    scope = by_unit.get("scope")
    count = by_unit["took_part"]
    named = f"{scope['zh']}{count}个{scope['noun']}" if scope else f"{count}个单位"
    return named + ("及本级" if by_unit.get("organiser") else "")


def en_scope(figures: Figures) -> str | None:
    by_unit = _by_unit(figures)
    if by_unit is None:
        return None
    count = by_unit["took_part"]
    named = f"{count} reporting unit" + ("" if count == 1 else "s")
    return named + (" and the organiser" if by_unit.get("organiser") else "")


def leaders(figures: Figures) -> list[tuple[str, list[tuple[str, int]]]]:
    """(unit name, [(metric, its figure)]) for the unit leading each headline metric, grouped
    by unit in the order they first lead; none with fewer than two units taking part."""
    by_unit = _by_unit(figures)
    if by_unit is None:
        return []
    top = [u for u in by_unit["units"] if u["code"] and u["parent"] is None and u["tallies"]]
    if len(top) < 2:
        return []
    grouped: dict[str, list[tuple[str, int]]] = {}
    for metric in by_unit.get("headline", []):
        if not figures["metrics"].get(metric, {}).get("total"):
            continue
        # max() keeps the first of equals: the tree order decides a tie.
        best = max(top, key=lambda u: u["totals"].get(metric, 0))
        value = best["totals"].get(metric, 0)
        if value > 0:
            grouped.setdefault(best["name"], []).append((metric, value))
    return list(grouped.items())


def zh_leaders(figures: Figures, clause: Clause) -> str:
    """其中浚县发放宣传资料1.8万余份、参与群众5000余人次，淇县组织讲座10多场 (or "")."""
    parts = [
        name + "、".join(clause(metric, value) for metric, value in led)
        for name, led in leaders(figures)
    ]
    return f"其中{'，'.join(parts)}" if parts else ""


def en_leaders(figures: Figures, clause: Clause) -> str:
    parts = [
        f"{name} {_en_join([clause(metric, value) for metric, value in led])}"
        for name, led in leaders(figures)
    ]
    return f" Among them, {'; '.join(parts)}." if parts else ""


def _reporting_day(figures: Figures, reporting: dict[str, Any]) -> date:
    """The last day reports were accepted, or the day compiled when that came first."""
    last = date.fromisoformat(reporting["last_day"])
    as_of = figures.get("as_of")
    return min(last, date.fromisoformat(as_of[:10])) if as_of else last


def zh_reporting(figures: Figures) -> str:
    """截至12月10日，淇县、鹤山区尚未报送（山城区免报）。for a final summary; the progress line
    for a digest; "" without participants."""
    reporting = figures.get("reporting")
    if not reporting:
        return ""
    if figures.get("kind") == "digest":
        line = reporting.get("progress", {}).get("zh")
        return f"报送进度：{line}。" if line else ""
    waived = "、".join(u["name"] for u in reporting.get("waived_units", []))
    waived_note = f"（{waived}免报）" if waived else ""
    missing = reporting.get("missing", [])
    if missing:
        day = _reporting_day(figures, reporting)
        names = "、".join(u["name"] for u in missing)
        return f"截至{day.month}月{day.day}日，{names}尚未报送{waived_note}。"
    return f"各单位均已报送{waived_note}。" if waived else ""


def en_reporting(figures: Figures) -> str:
    reporting = figures.get("reporting")
    if not reporting:
        return ""
    if figures.get("kind") == "digest":
        line = reporting.get("progress", {}).get("en")
        return f" Reporting: {line}." if line else ""
    waived = _en_join([u["name"] for u in reporting.get("waived_units", [])])
    waived_note = f" ({waived} waived)" if waived else ""
    missing = reporting.get("missing", [])
    if missing:
        day = _reporting_day(figures, reporting)
        names = _en_join([u["name"] for u in missing])
        return f" As of {day.day} {day:%B}, {names} had not reported{waived_note}."
    return f" Every unit has reported{waived_note}." if waived else ""


def _en_join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
