"""Turning a summary's figures into what people read: text, Markdown, HTML and JSON.

The Chinese narrative follows section 七 of the reference report: the campaign and its
dates first ("科技活动周期间（5月19日—26日）"), then "此次活动共" and one clause per metric
in the observance's own order, each a verb phrase and a figure written by `numerals`
(组织讲座10多场，培训干部群众数百人，发放宣传资料10000余册); then targets, the same
observance last year, and corrections, each a sentence of its own. English says the same
from the same figures. Exact figures stay in the tables; `exact=True` puts them in the
narrative too. HTML is for email: inline styles only, no scripts, all user text escaped.
"""

from __future__ import annotations

import html
import json
from datetime import date
from typing import Any, Literal

from campaigns.summaries.numerals import exact_zh, official_en, official_zh

Lang = Literal["zh", "en"]
Format = Literal["text", "markdown", "html", "json"]
Figures = dict[str, Any]

# How the report phrases each metric: the words before the figure.
_ZH_PHRASES: dict[str, str] = {
    "lectures": "组织讲座",
    "trainings": "举办培训",
    "trainees": "培训干部群众",
    "legal-services": "提供法律服务",
    "materials": "发放宣传资料",
    "attendance": "参与群众",
    "consultations": "接受群众咨询",
    "boards": "展出展板",
    "units": "参加活动的单位",
    "volunteers": "组织志愿者",
    "funding": "经费投入",
}
# The report writes trainees as a band (培训干部群众数百人), not as 200余人.
_VAGUE = frozenset({"trainees"})
_EN_PHRASES: dict[str, str] = {
    "lectures": "held {n} of lectures",
    "trainings": "ran {n} of training",
    "trainees": "trained {n}",
    "legal-services": "provided legal services {n}",
    "materials": "handed out {n} of publicity materials",
    "attendance": "drew {n}",
    "consultations": "answered consultations from {n}",
    "boards": "displayed {n}",
    "units": "involved {n}",
    "volunteers": "mobilised {n} as volunteers",
    "funding": "spent {n}",
}
_UNNAMED_VENUE = {"zh": "（未注明）", "en": "(not given)"}


def _days(figures: Figures) -> tuple[date, date]:
    c = figures["campaign"]
    return date.fromisoformat(c["first_day"]), date.fromisoformat(c["last_day"])


def zh_period(first: date, last: date, *, with_year: bool = False) -> str:
    """5月19日—26日 as the report writes it; the month repeats only when it changes."""
    start = f"{first.month}月{first.day}日"
    if with_year:
        start = f"{first.year}年{start}"
    if last == first:
        return start
    if last.year != first.year:
        return f"{start}—{last.year}年{last.month}月{last.day}日"
    if last.month != first.month:
        return f"{start}—{last.month}月{last.day}日"
    return f"{start}—{last.day}日"


def en_period(first: date, last: date) -> str:
    """19–26 May 2019, 20 April – 1 May 2019, 15 April 2019."""
    if last == first:
        return f"{first.day} {first:%B %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
    return f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"


def _pct(value: float) -> str:
    return f"{value:g}%"


def _reported(figures: Figures) -> list[tuple[str, dict[str, Any]]]:
    """Metrics with something to say, in the figures' order (the observance's order)."""
    metrics: dict[str, dict[str, Any]] = figures["metrics"]
    return [(mid, m) for mid, m in metrics.items() if m["total"] or m.get("target")]


def _zh_figure(metric_id: str, m: dict[str, Any], value: int, *, exact: bool) -> str:
    vague = not exact and metric_id in _VAGUE
    return official_zh(value, m["unit"], exact=exact, money=m["money"], vague=vague)


def _zh_clauses(figures: Figures, values: dict[str, int], *, exact: bool) -> list[str]:
    clauses = []
    for metric_id, m in figures["metrics"].items():
        value = values.get(metric_id, 0)
        if value:
            phrase = _ZH_PHRASES.get(metric_id, m["zh"])
            clauses.append(phrase + _zh_figure(metric_id, m, value, exact=exact))
    return clauses


def _en_clauses(figures: Figures, values: dict[str, int], *, exact: bool) -> list[str]:
    clauses = []
    for metric_id, m in figures["metrics"].items():
        value = values.get(metric_id, 0)
        if value:
            vague = not exact and metric_id in _VAGUE
            figure = official_en(value, m["unit_en"], exact=exact, money=m["money"], vague=vague)
            phrase = _EN_PHRASES.get(metric_id, f"recorded {{n}} ({m['en']})")
            clauses.append(phrase.format(n=figure))
    return clauses


def _totals(figures: Figures) -> dict[str, int]:
    return {mid: m["total"] for mid, m in figures["metrics"].items()}


def _on_day(figures: Figures, day: str) -> dict[str, int]:
    return {mid: days.get(day, 0) for mid, days in figures.get("by_day", {}).items()}


def _is_digest(figures: Figures) -> bool:
    return figures.get("kind") == "digest"


def narrative_zh(figures: Figures, *, exact: bool = False) -> str:
    c = figures["campaign"]
    first, last = _days(figures)
    where = f"在{c['venue']}" if c.get("venue") else ""
    clauses = _zh_clauses(figures, _totals(figures), exact=exact)
    if _is_digest(figures):
        day = date.fromisoformat(figures["day"])
        opening = f"截至{day.month}月{day.day}日，{c['title']}（{zh_period(first, last)}）"
        if not clauses:
            return f"{opening}暂无统计数据。"
        sentences = [f"{opening}{where}累计{'，'.join(clauses)}。"]
        today = _zh_clauses(figures, _on_day(figures, figures["day"]), exact=exact)
        sentences.append(f"其中当日{'，'.join(today)}。" if today else "当日暂无新增统计数据。")
    else:
        # "…宣传活动期间…组织开展集中宣传活动" would say it twice.
        name = c["title"].removesuffix("宣传活动") or c["title"]
        opening = f"{name}期间（{zh_period(first, last)}）"
        if not clauses:
            return f"{opening}，暂无统计数据。"
        sentences = [f"{opening}，{where}组织开展集中宣传活动。此次活动共{'，'.join(clauses)}。"]
    sentences += _zh_comparisons(figures, exact=exact)
    return "".join(sentences)


def _zh_comparisons(figures: Figures, *, exact: bool) -> list[str]:
    sentences = []
    reported = _reported(figures)
    targets = [
        f"{m['zh']}完成{_pct(m['reached_pct'])}（目标{_exact(m, m['target'])}）"
        for _, m in reported
        if m.get("reached_pct") is not None
    ]
    if targets:
        sentences.append(f"对照目标，{'，'.join(targets)}。")
    changes = []
    for _, m in reported:
        change = m.get("change_pct")
        if change is None:
            continue
        if change > 0:
            changes.append(f"{m['zh']}增长{_pct(change)}")
        elif change < 0:
            changes.append(f"{m['zh']}下降{_pct(-change)}")
        else:
            changes.append(f"{m['zh']}持平")
    if changes:
        sentences.append(f"与上年同期相比，{'，'.join(changes)}。")
    count = sum(m.get("correction_tallies", 0) for m in figures["metrics"].values())
    if count:
        sentences.append(f"以上数字已计入更正{count}笔，详见更正记录。")
    version_note = _zh_changes(figures)
    if version_note:
        sentences.append(version_note)
    return sentences


def _exact(m: dict[str, Any], value: int) -> str:
    return exact_zh(value, m["unit"], money=m["money"])


def _zh_changes(figures: Figures) -> str:
    changes = figures.get("changes")
    if not changes:
        return ""
    head = f"本稿为第{figures['version']}版，较第{changes['from_version']}版"
    parts = []
    for row in changes["totals"]:
        m = figures["metrics"].get(row["metric"]) or {
            "zh": row["metric"],
            "unit": "",
            "money": False,
        }
        parts.append(f"{m['zh']}由{_exact(m, row['before'])}调整为{_exact(m, row['after'])}")
    return f"{head}：{'，'.join(parts)}。" if parts else f"{head}，合计数字无变化。"


def narrative_en(figures: Figures, *, exact: bool = False) -> str:
    c = figures["campaign"]
    first, last = _days(figures)
    where = f" at {c['venue']}" if c.get("venue") else ""
    clauses = _en_clauses(figures, _totals(figures), exact=exact)
    if _is_digest(figures):
        day = date.fromisoformat(figures["day"])
        opening = f"As of {day.day} {day:%B %Y}, {c['title']} ({en_period(first, last)}){where}"
        if not clauses:
            return f"{opening}: nothing has been recorded yet."
        sentences = [f"{opening} has so far {_en_join(clauses)}."]
        today = _en_clauses(figures, _on_day(figures, figures["day"]), exact=exact)
        sentences.append(
            f" On the day itself it {_en_join(today)}." if today else " Nothing new that day."
        )
    else:
        opening = f"{c['title']} ({en_period(first, last)}){where}"
        if not clauses:
            return f"{opening}: nothing has been recorded."
        sentences = [f"{opening}: the campaign {_en_join(clauses)}."]
    sentences += _en_comparisons(figures)
    return "".join(sentences)


def _en_join(clauses: list[str]) -> str:
    if len(clauses) == 1:
        return clauses[0]
    return ", ".join(clauses[:-1]) + " and " + clauses[-1]


def _en_comparisons(figures: Figures) -> list[str]:
    sentences = []
    reported = _reported(figures)
    targets = [
        f"{m['en']} {_pct(m['reached_pct'])} of the target of {m['target']:,} {m['unit_en']}"
        for _, m in reported
        if m.get("reached_pct") is not None
    ]
    if targets:
        sentences.append(f" Against targets: {'; '.join(targets)}.")
    changes = []
    for _, m in reported:
        change = m.get("change_pct")
        if change is None:
            continue
        word = "up" if change > 0 else "down" if change < 0 else "unchanged"
        changes.append(f"{m['en']} {word}" + (f" {_pct(abs(change))}" if change else ""))
    if changes:
        sentences.append(f" Compared with last year: {'; '.join(changes)}.")
    count = sum(m.get("correction_tallies", 0) for m in figures["metrics"].values())
    if count:
        noun = "correction" if count == 1 else "corrections"
        sentences.append(f" The figures include {count} {noun}, listed separately.")
    changes_made = figures.get("changes")
    if changes_made:
        parts = [
            f"{figures['metrics'].get(r['metric'], {}).get('en', r['metric'])} "
            f"{r['before']:,} → {r['after']:,}"
            for r in changes_made["totals"]
        ]
        what = "; ".join(parts) if parts else "no total changed"
        sentences.append(
            f" This is version {figures['version']}; since version "
            f"{changes_made['from_version']}: {what}."
        )
    return sentences


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
                "" if m["reached_pct"] is None else _pct(m["reached_pct"]),
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


def _sections(figures: Figures, lang: Lang) -> list[tuple[str, list[str], list[list[str]]]]:
    """The tables under the narrative: totals, by day, by venue, corrections (when any)."""
    names = {
        "zh": ("主要数据", "按日统计", "按地点统计", "更正记录"),
        "en": ("Figures", "By day", "By venue", "Corrections"),
    }[lang]
    sections = [(names[0], *table_rows(figures, lang))]
    for name, key in ((names[1], "by_day"), (names[2], "by_venue")):
        headers, rows = _breakdown(figures, key, lang)
        if rows:
            sections.append((name, headers, rows))
    headers, rows = _corrections_table(figures, lang)
    if rows:
        sections.append((names[3], headers, rows))
    return sections


def heading(figures: Figures, lang: Lang) -> str:
    c = figures["campaign"]
    first, last = _days(figures)
    if _is_digest(figures):
        day = date.fromisoformat(figures["day"])
        if lang == "zh":
            return f"{c['title']}阶段性统计（截至{day.year}年{day.month}月{day.day}日）"
        return f"{c['title']}: interim digest (as of {day.day} {day:%B %Y})"
    if lang == "zh":
        return f"{c['title']}成果统计（{zh_period(first, last, with_year=True)}）"
    return f"{c['title']}: outcome summary ({en_period(first, last)})"


def chart_series(figures: Figures, lang: Lang = "zh") -> dict[str, dict[date, int]]:
    """Per metric (labelled with its unit), the daily totals: what `chart` draws."""
    return {
        _metric_name(figures, mid, lang): {date.fromisoformat(d): v for d, v in days.items()}
        for mid, days in figures.get("by_day", {}).items()
    }


def narrative(figures: Figures, *, lang: Lang, exact: bool = False) -> str:
    return (
        narrative_zh(figures, exact=exact) if lang == "zh" else narrative_en(figures, exact=exact)
    )


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
        return json.dumps(items, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if not items:
        items_text = "暂无进行中的宣传活动。" if lang == "zh" else "No campaign is running."
        return render_document(title, [(items_text, [])], fmt)
    parts = []
    for figures in items:
        text = narrative(figures, lang=lang, exact=exact)
        name = ("主要数据", "Figures")[lang == "en"]
        parts.append((text, [(f"{heading(figures, lang)} — {name}", *table_rows(figures, lang))]))
    return render_document(title, parts, fmt)


def render_document(
    title: str, parts: list[tuple[str, list[tuple[str, list[str], list[list[str]]]]]], fmt: Format
) -> str:
    """Paragraphs, each followed by its tables, under one title."""
    if fmt == "html":
        return _html(title, parts)
    if fmt == "markdown":
        return _markdown(title, parts)
    return _text(title, parts)


def render(
    figures: Figures, *, lang: Lang = "zh", fmt: Format = "text", exact: bool = False
) -> str:
    if fmt == "json":
        return json.dumps(figures, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    title = heading(figures, lang)
    text = narrative(figures, lang=lang, exact=exact)
    return render_document(title, [(text, _sections(figures, lang))], fmt)


Section = tuple[str, list[str], list[list[str]]]
Part = tuple[str, list[Section]]


def _markdown(title: str, parts: list[Part]) -> str:
    def cell(value: str) -> str:
        return escape_markdown(value).replace("|", "\\|")

    lines = [f"# {escape_markdown(title)}"]
    for text, sections in parts:
        lines += ["", escape_markdown(text)]
        for name, headers, rows in sections:
            lines += ["", f"## {cell(name)}", ""]
            lines.append("| " + " | ".join(cell(h) for h in headers) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def escape_markdown(text: str) -> str:
    """User text shown literally: no raw HTML, links or emphasis sneak into a renderer."""
    for ch in "\\`*_[]<>#!":
        text = text.replace(ch, "\\" + ch)
    return text


def _text(title: str, parts: list[Part]) -> str:
    lines = [title]
    for text, sections in parts:
        lines += ["", text]
        for name, headers, rows in sections:
            widths = [max(_width(h), *(_width(r[i]) for r in rows)) for i, h in enumerate(headers)]
            lines += ["", name]
            for row in [headers, *rows]:
                cells = (_pad(value, widths[i]) for i, value in enumerate(row))
                lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


_CELL = "border:1px solid #ccc;padding:4px 8px;"


def _html(title: str, parts: list[Part]) -> str:
    esc = html.escape
    out = [
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        '<body style="font-family:sans-serif;color:#222">',
        f'<h2 style="font-size:18px">{esc(title)}</h2>',
    ]
    for text, sections in parts:
        out.append(f'<p style="line-height:1.7">{esc(text)}</p>')
        out += [_html_table(name, headers, rows) for name, headers, rows in sections]
    out.append("</body></html>")
    return "".join(out)


def _html_table(name: str, headers: list[str], rows: list[list[str]]) -> str:
    esc = html.escape
    head = "".join(
        f'<th style="{_CELL}background:#f3f3f3;text-align:left">{esc(h)}</th>' for h in headers
    )
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{esc(value)}</td>' for value in row) + "</tr>"
        for row in rows
    )
    return (
        f'<h3 style="font-size:15px;margin:16px 0 6px">{esc(name)}</h3>'
        f'<table style="border-collapse:collapse;font-size:14px"><tr>{head}</tr>{body}</table>'
    )
