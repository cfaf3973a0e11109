"""The narrative of a summary, drafted in the official style, and its English counterpart.

The Chinese narrative follows section 七 of the reference report: the campaign and its
dates first ("科技活动周期间（5月19日—26日）"), then "此次活动共" and one clause per metric
in the observance's own order, each a verb phrase and a figure written by `numerals`
(组织讲座10多场，培训干部群众数百人，发放宣传资料10000余册); then targets, the same
observance last year, and corrections, each a sentence of its own. With reporting units the
totals are the units' (全市7个县区共…，其中浚县发放宣传资料1.8万余份) and a unit still missing is
named (`unit_prose`). English says the same
from the same figures. Exact figures stay in the tables; `exact=True` puts them in the
narrative too.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from campaigns.summaries.numerals import exact_zh, official_en, official_zh
from campaigns.summaries.unit_prose import (
    en_leaders,
    en_reporting,
    en_scope,
    zh_leaders,
    zh_reporting,
    zh_scope,
)

Lang = Literal["zh", "en"]
Figures = dict[str, Any]

# How the report phrases each metric: the words before the figure.
ZH_PHRASES: dict[str, str] = {
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
VAGUE_METRICS = frozenset({"trainees"})
EN_PHRASES: dict[str, str] = {
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


def campaign_days(figures: Figures) -> tuple[date, date]:
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


def percent(value: float) -> str:
    return f"{value:g}%"


def _reported(figures: Figures) -> list[tuple[str, dict[str, Any]]]:
    """Metrics with something to say, in the figures' order (the observance's order)."""
    metrics: dict[str, dict[str, Any]] = figures["metrics"]
    return [(mid, m) for mid, m in metrics.items() if m["total"] or m.get("target")]


def _zh_figure(metric_id: str, m: dict[str, Any], value: int, *, exact: bool) -> str:
    vague = not exact and metric_id in VAGUE_METRICS
    return official_zh(value, m["unit"], exact=exact, money=m["money"], vague=vague)


def _zh_clause(figures: Figures, metric_id: str, value: int, *, exact: bool) -> str:
    m = figures["metrics"][metric_id]
    phrase: str = ZH_PHRASES.get(metric_id, m["zh"])
    return phrase + _zh_figure(metric_id, m, value, exact=exact)


def _zh_clauses(figures: Figures, values: dict[str, int], *, exact: bool) -> list[str]:
    return [
        _zh_clause(figures, metric_id, values[metric_id], exact=exact)
        for metric_id in figures["metrics"]
        if values.get(metric_id, 0)
    ]


def _en_clause(figures: Figures, metric_id: str, value: int, *, exact: bool) -> str:
    m = figures["metrics"][metric_id]
    vague = not exact and metric_id in VAGUE_METRICS
    figure = official_en(value, m["unit_en"], exact=exact, money=m["money"], vague=vague)
    return EN_PHRASES.get(metric_id, f"recorded {{n}} ({m['en']})").format(n=figure)


def _en_clauses(figures: Figures, values: dict[str, int], *, exact: bool) -> list[str]:
    return [
        _en_clause(figures, metric_id, values[metric_id], exact=exact)
        for metric_id in figures["metrics"]
        if values.get(metric_id, 0)
    ]


def _totals(figures: Figures) -> dict[str, int]:
    return {mid: m["total"] for mid, m in figures["metrics"].items()}


def _on_day(figures: Figures, day: str) -> dict[str, int]:
    return {mid: days.get(day, 0) for mid, days in figures.get("by_day", {}).items()}


def is_digest(figures: Figures) -> bool:
    return figures.get("kind") == "digest"


def narrative_zh(figures: Figures, *, exact: bool = False) -> str:
    c = figures["campaign"]
    first, last = campaign_days(figures)
    where = f"在{c['venue']}" if c.get("venue") else ""
    clauses = _zh_clauses(figures, _totals(figures), exact=exact)
    if is_digest(figures):
        day = date.fromisoformat(figures["day"])
        opening = f"截至{day.month}月{day.day}日，{c['title']}（{zh_period(first, last)}）"
        if not clauses:
            return f"{opening}暂无统计数据。{zh_reporting(figures)}"
        sentences = [f"{opening}{where}累计{'，'.join(clauses)}。"]
        today = _zh_clauses(figures, _on_day(figures, figures["day"]), exact=exact)
        sentences.append(f"其中当日{'，'.join(today)}。" if today else "当日暂无新增统计数据。")
        sentences.append(zh_reporting(figures))
    else:
        # "…宣传活动期间…组织开展集中宣传活动" would say it twice.
        name = c["title"].removesuffix("宣传活动") or c["title"]
        opening = f"{name}期间（{zh_period(first, last)}）"
        if not clauses:
            return f"{opening}，暂无统计数据。{zh_reporting(figures)}"
        # With units: 全市7个县区共……，其中浚县发放宣传资料1.8万余份 (`unit_prose`).
        scope = zh_scope(figures) or "此次活动"
        led = zh_leaders(figures, lambda mid, v: _zh_clause(figures, mid, v, exact=exact))
        body = "，".join([*clauses, led] if led else clauses)
        sentences = [f"{opening}，{where}组织开展集中宣传活动。{scope}共{body}。"]
        sentences.append(zh_reporting(figures))
    sentences += _zh_comparisons(figures, exact=exact)
    return "".join(sentences)


def _zh_comparisons(figures: Figures, *, exact: bool) -> list[str]:
    sentences = []
    reported = _reported(figures)
    targets = [
        f"{m['zh']}完成{percent(m['reached_pct'])}（目标{_exact(m, m['target'])}）"
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
            changes.append(f"{m['zh']}增长{percent(change)}")
        elif change < 0:
            changes.append(f"{m['zh']}下降{percent(-change)}")
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
    first, last = campaign_days(figures)
    where = f" at {c['venue']}" if c.get("venue") else ""
    clauses = _en_clauses(figures, _totals(figures), exact=exact)
    if is_digest(figures):
        day = date.fromisoformat(figures["day"])
        opening = f"As of {day.day} {day:%B %Y}, {c['title']} ({en_period(first, last)}){where}"
        if not clauses:
            return f"{opening}: nothing has been recorded yet.{en_reporting(figures)}"
        sentences = [f"{opening} has so far {_en_join(clauses)}."]
        today = _en_clauses(figures, _on_day(figures, figures["day"]), exact=exact)
        sentences.append(
            f" On the day itself it {_en_join(today)}." if today else " Nothing new that day."
        )
        sentences.append(en_reporting(figures))
    else:
        opening = f"{c['title']} ({en_period(first, last)}){where}"
        if not clauses:
            return f"{opening}: nothing has been recorded.{en_reporting(figures)}"
        scope = en_scope(figures)
        across = f" across {scope}," if scope else ""
        sentences = [f"{opening}:{across} the campaign {_en_join(clauses)}."]
        sentences.append(
            en_leaders(figures, lambda mid, v: _en_clause(figures, mid, v, exact=exact))
        )
        sentences.append(en_reporting(figures))
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
        f"{m['en']} {percent(m['reached_pct'])} of the target of {m['target']:,} {m['unit_en']}"
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
        changes.append(f"{m['en']} {word}" + (f" {percent(abs(change))}" if change else ""))
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


def narrative(figures: Figures, *, lang: Lang, exact: bool = False) -> str:
    return (
        narrative_zh(figures, exact=exact) if lang == "zh" else narrative_en(figures, exact=exact)
    )
