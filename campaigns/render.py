"""Turning a summary's figures into what people read: text, Markdown, HTML and JSON.

The narrative follows the official style of the reference report (section 七): one
sentence of what was done, figures written by `numerals`; exact figures stay in tables.
All user-typed text (titles, venues) is escaped in HTML.
"""

from __future__ import annotations

import html
import json
from datetime import date
from typing import Any, Literal

from campaigns.numerals import official_en, official_zh

Lang = Literal["zh", "en"]
Format = Literal["text", "markdown", "html", "json"]

# How the report phrases each metric: the verb before the figure and what follows it.
_ZH_PHRASES: dict[str, tuple[str, str]] = {
    "lectures": ("组织讲座", ""),
    "trainings": ("举办培训", ""),
    "trainees": ("培训干部群众", ""),
    "legal-services": ("提供法律服务", ""),
    "materials": ("发放各类宣传资料", ""),
    "attendance": ("参与群众", ""),
    "consultations": ("接受群众咨询", ""),
    "boards": ("展出展板", ""),
    "units": ("参加活动的单位", ""),
    "volunteers": ("组织志愿者", ""),
    "funding": ("投入经费", ""),
}
_EN_PHRASES: dict[str, str] = {
    "lectures": "held {n}",
    "trainings": "ran {n}",
    "trainees": "trained {n}",
    "legal-services": "provided {n} of legal services",
    "materials": "handed out {n}",
    "attendance": "drew {n}",
    "consultations": "answered {n} consultations",
    "boards": "displayed {n}",
    "units": "involved {n}",
    "volunteers": "mobilised {n}",
    "funding": "spent {n}",
}


def _zh_day(day: date, *, with_year: bool = False) -> str:
    text = f"{day.month}月{day.day}日"
    return f"{day.year}年{text}" if with_year else text


def _days(figures: dict[str, Any]) -> tuple[date, date]:
    c = figures["campaign"]
    return date.fromisoformat(c["first_day"]), date.fromisoformat(c["last_day"])


def _ordered_metrics(figures: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    metrics: dict[str, dict[str, Any]] = figures["metrics"]
    return [(mid, m) for mid, m in metrics.items() if m["total"] or m["target"]]


def narrative_zh(figures: dict[str, Any], *, exact: bool = False) -> str:
    c = figures["campaign"]
    first, last = _days(figures)
    period = _zh_day(first) if first == last else f"{_zh_day(first)}—{_zh_day(last)}"
    where = f"在{c['venue']}" if c.get("venue") else ""
    parts = []
    for metric_id, m in _ordered_metrics(figures):
        if not m["total"]:
            continue
        figure = official_zh(m["total"], m["unit"], exact=exact, money=m["money"])
        verb, tail = _ZH_PHRASES.get(metric_id, (m["zh"], ""))
        parts.append(f"{verb}{figure}{tail}")
    if not parts:
        return f"{c['title']}期间（{period}），暂无统计数据。"
    return f"{c['title']}期间（{period}），{where}组织开展集中宣传活动，{'、'.join(parts)}。"


def narrative_en(figures: dict[str, Any], *, exact: bool = False) -> str:
    c = figures["campaign"]
    first, last = _days(figures)
    period = (
        first.strftime("%d %B %Y")
        if first == last
        else (f"{first.strftime('%d %B')} – {last.strftime('%d %B %Y')}")
    )
    where = f" at {c['venue']}" if c.get("venue") else ""
    parts = []
    for metric_id, m in _ordered_metrics(figures):
        if not m["total"]:
            continue
        figure = official_en(m["total"], m["unit_en"], exact=exact, money=m["money"])
        parts.append(_EN_PHRASES.get(metric_id, f"recorded {{n}} {m['en']}").format(n=figure))
    if not parts:
        return f"{c['title']} ({period}){where}: nothing has been recorded yet."
    return f"{c['title']} ({period}){where}: the campaign " + ", ".join(parts) + "."


def table_rows(figures: dict[str, Any], lang: Lang) -> tuple[list[str], list[list[str]]]:
    """The exact figures, one row per metric: what tables and spreadsheets show."""
    if lang == "zh":
        headers = ["指标", "合计", "单位", "目标", "完成率", "上年同期", "同比", "其中更正"]
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
        ]
    rows = []
    for _metric_id, m in figures["metrics"].items():
        rows.append(
            [
                m["zh"] if lang == "zh" else m["en"],
                f"{m['total']:,}" if lang == "en" else str(m["total"]),
                m["unit"] if lang == "zh" else m["unit_en"],
                "" if m["target"] is None else str(m["target"]),
                "" if m["reached_pct"] is None else f"{m['reached_pct']}%",
                "" if m["previous"] is None else str(m["previous"]),
                "" if m["change_pct"] is None else f"{m['change_pct']:+}%",
                str(m["corrections"]) if m["corrections"] else "",
            ]
        )
    return headers, rows


def heading(figures: dict[str, Any], lang: Lang) -> str:
    c = figures["campaign"]
    first, last = _days(figures)
    if lang == "zh":
        period = _zh_day(first, with_year=True)
        if last != first:
            period += f"—{_zh_day(last)}"
        return f"{c['title']}成果统计（{period}）"
    return f"{c['title']}: outcome summary ({first.isoformat()} – {last.isoformat()})"


def render(
    figures: dict[str, Any], *, lang: Lang = "zh", fmt: Format = "text", exact: bool = False
) -> str:
    if fmt == "json":
        return json.dumps(figures, ensure_ascii=False, indent=2, sort_keys=True)
    title = heading(figures, lang)
    text = (
        narrative_zh(figures, exact=exact) if lang == "zh" else narrative_en(figures, exact=exact)
    )
    headers, rows = table_rows(figures, lang)
    if fmt == "html":
        return _html(title, text, headers, rows)
    if fmt == "markdown":
        table = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        table += [
            "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
        ]
        return f"# {title}\n\n{text}\n\n" + "\n".join(table) + "\n"
    widths = [max(_width(h), *(_width(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = [title, "", text, ""]
    for row in [headers, *rows]:
        lines.append("  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines) + "\n"


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


_CELL = "border:1px solid #ccc;padding:4px 8px;"


def _html(title: str, text: str, headers: list[str], rows: list[list[str]]) -> str:
    esc = html.escape
    head = "".join(
        f'<th style="{_CELL}background:#f3f3f3;text-align:left">{esc(h)}</th>' for h in headers
    )
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{esc(cell)}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif;color:#222">'
        f'<h2 style="font-size:18px">{esc(title)}</h2>'
        f'<p style="line-height:1.7">{esc(text)}</p>'
        f'<table style="border-collapse:collapse;font-size:14px"><tr>{head}</tr>{body}</table>'
        "</body></html>"
    )
