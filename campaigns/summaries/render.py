"""Turning a summary's figures into what people read: text, Markdown, HTML and JSON.

`render` puts the heading, the narrative (`prose`) and the tables of exact figures made
here (totals, by day, by venue, by unit, corrections) into a document that `formats`
writes out; JSON is the figures themselves, in their order (the observance's metric order).
`chart_series` gives `chart` the daily totals, or each unit's for a campaign with units.
"""

from __future__ import annotations

import json
from datetime import date

from campaigns.summaries.formats import Format, Section, render_document
from campaigns.summaries.prose import (
    Figures,
    Lang,
    campaign_days,
    en_period,
    is_digest,
    narrative,
    percent,
    zh_period,
)

_UNNAMED_VENUE = {"zh": "（未注明）", "en": "(not given)"}


def table_rows(figures: Figures, lang: Lang) -> tuple[list[str], list[list[str]]]:
    """The exact figures, one row per metric: what tables and spreadsheets show."""
    if lang == "zh":
        headers = ["指标", "合计", "单位", "目标", "完成率", "上年同期", "同比", "其中更正", "笔数"]
    else:
        headers = [
            "Metric",
            "Total",
            "Unit",
            "Target",
            "Reached",
            "Last year",
            "Change",
            "Corrections",
            "Tallies",
        ]
    rows = []
    for m in figures["metrics"].values():
        count = m["tallies"] + m.get("correction_tallies", 0)
        rows.append(
            [
                m["zh"] if lang == "zh" else m["en"],
                _number(m["total"], lang),
                m["unit"] if lang == "zh" else m["unit_en"],
                "" if m["target"] is None else _number(m["target"], lang),
                "" if m["reached_pct"] is None else percent(m["reached_pct"]),
                "" if m["previous"] is None else _number(m["previous"], lang),
                "" if m["change_pct"] is None else f"{m['change_pct']:+g}%",
                _number(m["corrections"], lang) if m["corrections"] else "",
                _number(count, lang),
            ]
        )
    return headers, rows


def _number(value: int, lang: Lang) -> str:
    return f"{value:,}" if lang == "en" else str(value)


def _metric_name(figures: Figures, metric_id: str, lang: Lang) -> str:
    m = figures["metrics"].get(metric_id)
    if m is None:
        return metric_id
    return f"{m['zh']}（{m['unit']}）" if lang == "zh" else f"{m['en']} ({m['unit_en']})"


def _breakdown(figures: Figures, key: str, lang: Lang) -> tuple[list[str], list[list[str]]]:
    """Days (or venues) down, metrics across: the exact totals of each."""
    data: dict[str, dict[str, int]] = figures.get(key, {})
    metric_ids = [mid for mid in figures["metrics"] if mid in data]
    buckets = sorted({bucket for mid in metric_ids for bucket in data[mid]})
    first = {"by_day": ("日期", "Day"), "by_venue": ("地点", "Venue")}[key]
    headers = [first[0] if lang == "zh" else first[1]]
    headers += [_metric_name(figures, mid, lang) for mid in metric_ids]
    rows = []
    for bucket in buckets:
        label = bucket or _UNNAMED_VENUE[lang]
        if key == "by_day" and lang == "zh":
            day = date.fromisoformat(bucket)
            label = f"{day.month}月{day.day}日"
        cells = [
            _number(data[mid][bucket], lang) if bucket in data[mid] else "" for mid in metric_ids
        ]
        rows.append([label, *cells])
    return headers, rows


_UNIT_STATUS = {
    "zh": {"reported": "已报送", "late": "逾期报送", "waived": "免报", "missing": "未报送"},
    "en": {"reported": "reported", "late": "late", "waived": "waived", "missing": "missing"},
}
# Sub-units are indented with ideographic spaces, which HTML does not collapse.
_INDENT = "\u3000"


def _unit_metrics(figures: Figures) -> list[str]:
    units = figures.get("by_unit", {}).get("units", [])
    return [mid for mid in figures["metrics"] if any(u["totals"].get(mid) for u in units)]


def unit_table(figures: Figures, lang: Lang) -> tuple[list[str], list[list[str]]]:
    """按单位统计: each unit (sub-units indented under their parent) with its figures, own
    plus its sub-units', the share of the headline metrics and whether it reported; no
    rows for a campaign without units."""
    by_unit = figures.get("by_unit")
    if not by_unit:
        return [], []
    metric_ids = _unit_metrics(figures)
    shared = [mid for mid in by_unit.get("headline", []) if mid in metric_ids]
    with_status = bool(figures.get("reporting"))
    zh = lang == "zh"
    headers = ["单位" if zh else "Unit"]
    headers += [_metric_name(figures, mid, lang) for mid in metric_ids]
    for mid in shared:
        m = figures["metrics"][mid]
        headers.append(f"{m['zh']}占比" if zh else f"Share of {m['en']}")
    if with_status:
        headers.append("报送情况" if zh else "Reported")
    rows = []
    for unit in by_unit["units"]:
        name = unit["name"] if zh else unit.get("name_en", unit["name"])
        cells = [_INDENT * unit["depth"] + name]
        cells += [_number(unit["totals"].get(mid, 0), lang) for mid in metric_ids]
        for mid in shared:
            share = unit["share"].get(mid)
            cells.append("" if share is None else percent(share))
        if with_status:
            status = unit.get("status")
            cells.append(_UNIT_STATUS[lang][status] if status else "")
        rows.append(cells)
    return headers, rows


def _corrections_table(figures: Figures, lang: Lang) -> tuple[list[str], list[list[str]]]:
    if lang == "zh":
        headers = ["时间", "指标", "更正数", "原因", "记录人"]
    else:
        headers = ["When", "Metric", "Change", "Reason", "By"]
    rows = [
        [
            c["at"].replace("T", " ")[:16],
            _metric_name(figures, c["metric"], lang),
            f"{c['quantity']:+,}" if lang == "en" else f"{c['quantity']:+}",
            c.get("reason") or "",
            c.get("recorded_by") or "",
        ]
        for c in figures.get("corrections", [])
    ]
    return headers, rows


def _sections(figures: Figures, lang: Lang) -> list[Section]:
    """The tables under the narrative: totals, by day, by venue, corrections (when any)."""
    names = {
        "zh": ("主要数据", "按日统计", "按地点统计", "按单位统计", "更正记录"),
        "en": ("Figures", "By day", "By venue", "By unit", "Corrections"),
    }[lang]
    sections = [(names[0], *table_rows(figures, lang))]
    for name, key in ((names[1], "by_day"), (names[2], "by_venue")):
        headers, rows = _breakdown(figures, key, lang)
        if rows:
            sections.append((name, headers, rows))
    for name, (headers, rows) in (
        (names[3], unit_table(figures, lang)),
        (names[4], _corrections_table(figures, lang)),
    ):
        if rows:
            sections.append((name, headers, rows))
    return sections


def heading(figures: Figures, lang: Lang) -> str:
    c = figures["campaign"]
    first, last = campaign_days(figures)
    if is_digest(figures):
        day = date.fromisoformat(figures["day"])
        if lang == "zh":
            return f"{c['title']}阶段性统计（截至{day.year}年{day.month}月{day.day}日）"
        return f"{c['title']}: interim digest (as of {day.day} {day:%B %Y})"
    if lang == "zh":
        return f"{c['title']}成果统计（{zh_period(first, last, with_year=True)}）"
    return f"{c['title']}: outcome summary ({en_period(first, last)})"


def chart_series(
    figures: Figures, lang: Lang = "zh"
) -> dict[str, dict[date, int]] | dict[str, dict[str, int]]:
    """Per metric (labelled with its unit), the daily totals: what `chart` draws. With
    reporting units, each headline metric's total per unit instead (top-level units, 本级)."""
    by_unit = unit_series(figures, lang)
    if by_unit:
        return by_unit
    return {
        _metric_name(figures, mid, lang): {date.fromisoformat(d): v for d, v in days.items()}
        for mid, days in figures.get("by_day", {}).items()
    }


def unit_series(figures: Figures, lang: Lang = "zh") -> dict[str, dict[str, int]]:
    """Headline metric -> unit name -> its total (own plus sub-units'), for one bar per unit."""
    by_unit = figures.get("by_unit")
    if not by_unit or not by_unit.get("took_part"):
        return {}
    units = [u for u in by_unit["units"] if u["parent"] is None and u["tallies"]]
    names = [u["name"] if lang == "zh" else u.get("name_en", u["name"]) for u in units]
    # Two top-level units may share a name (two 城关镇): the code tells their bars apart.
    labels = [
        f"{name}（{u['code']}）" if names.count(name) > 1 else name
        for name, u in zip(names, units, strict=True)
    ]
    series = {}
    for mid in by_unit.get("headline", []):
        if figures["metrics"].get(mid, {}).get("total"):
            series[_metric_name(figures, mid, lang)] = {
                label: u["totals"].get(mid, 0) for label, u in zip(labels, units, strict=True)
            }
    return series


def render_many(
    title: str,
    items: list[Figures],
    *,
    lang: Lang = "zh",
    fmt: Format = "text",
    exact: bool = False,
) -> str:
    """Several campaigns in one document (the on-demand digest of a year)."""
    if fmt == "json":
        return json.dumps(items, ensure_ascii=False, indent=2) + "\n"
    if not items:
        items_text = "暂无进行中的宣传活动。" if lang == "zh" else "No campaign is running."
        return render_document(title, [(items_text, [])], fmt)
    parts = []
    for figures in items:
        text = narrative(figures, lang=lang, exact=exact)
        name = ("主要数据", "Figures")[lang == "en"]
        parts.append((text, [(f"{heading(figures, lang)} — {name}", *table_rows(figures, lang))]))
    return render_document(title, parts, fmt)


def render(
    figures: Figures, *, lang: Lang = "zh", fmt: Format = "text", exact: bool = False
) -> str:
    if fmt == "json":
        return json.dumps(figures, ensure_ascii=False, indent=2) + "\n"
    title = heading(figures, lang)
    text = narrative(figures, lang=lang, exact=exact)
    return render_document(title, [(text, _sections(figures, lang))], fmt)
