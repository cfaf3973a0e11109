"""The year's publicity section drafted from the gathered figures, in Chinese or English.

It follows section 七 of the reference report: a heading, a lead sentence with the year's
totals, then one paragraph per campaign (or per group of campaigns held together, as the
reference joins 12·4 and 4·15), numbered 一是、二是、三是; each gives the dates, the partners,
the activity forms when known, the figures in the official style (`numerals`) and the
comparison with the same observance last year. A closing sentence compares the year with
the last; notes say which campaigns were cancelled. An appendix (附件) holds every exact
figure. A figure is stated once per sentence, and a clause is written only when it has
something to say.

`YearReport` is the whole document as data: every writer (text, Markdown, HTML, JSON, the
GB/T 9704 .docx and the PDF) lays out the same strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from campaigns.reports.year import (
    CampaignEntry,
    MetricFigure,
    YearFigures,
    clean_text,
    resolve_groups,
)
from campaigns.summaries.numerals import exact_zh, official_en, official_zh
from campaigns.summaries.prose import (
    EN_PHRASES,
    VAGUE_METRICS,
    ZH_PHRASES,
    en_period,
    percent,
    zh_period,
)

Lang = Literal["zh", "en"]
Order = Literal["date", "given"]

DEFAULT_HEADING: dict[Lang, str] = {
    "zh": "一、加大法制宣传力度，增强全民法制意识",
    "en": "1. Stepping up legal publicity and public awareness of the law",
}

# The words before each figure, as the reference writes them: the summaries' verbs, but
# 投入经费 where a summary says 经费投入 (the year's lead sentence reads 投入经费X万元).
_ZH_PHRASES: dict[str, str] = {**ZH_PHRASES, "funding": "投入经费"}

# The year's lead and closing sentences: reach and money, the rest is in the paragraphs.
LEAD_METRICS = ("materials", "attendance", "consultations", "funding")
# How the reference names the observances in running text.
_TAGS = {"national-security-day": "4·15", "world-ip-day": "4·26", "constitution-day": "12·4"}

_ZH_DIGITS = "零一二三四五六七八九"
_EN_ORDINALS = (
    "First",
    "Second",
    "Third",
    "Fourth",
    "Fifth",
    "Sixth",
    "Seventh",
    "Eighth",
    "Ninth",
    "Tenth",
)


def zh_number(n: int) -> str:
    """1 -> 一, 10 -> 十, 12 -> 十二, 20 -> 二十, 35 -> 三十五 (1 to 99)."""
    tens, ones = divmod(n, 10)
    if not 0 < n < 100:
        return str(n)
    head = "" if tens == 0 else ("十" if tens == 1 else _ZH_DIGITS[tens] + "十")
    return head + (_ZH_DIGITS[ones] if ones else "")


def en_ordinal(n: int) -> str:
    if n <= len(_EN_ORDINALS):
        return _EN_ORDINALS[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def zh_date(day: date) -> str:
    """成文日期 as GB/T 9704 writes it: Arabic numerals, no leading zeros."""
    return f"{day.year}年{day.month}月{day.day}日"


def en_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True, slots=True)
class AppendixBlock:
    """One campaign's rows of the appendix table: (metric, figure, last year, change)."""

    number: str
    campaign: str
    status: str
    period: str
    rows: tuple[tuple[str, str, str, str], ...]


@dataclass(frozen=True)
class YearReport:
    year: int
    lang: Lang
    title: str
    # Where a title too long for one line breaks: after the organisation (GB/T 9704 asks for
    # lines broken between words, not wherever the line happens to end).
    title_lines: tuple[str, ...]
    heading: str
    lead: str
    items: tuple[str, ...]
    closing: str | None
    notes: tuple[str, ...]
    attachment_name: str
    appendix_headers: tuple[str, ...]
    appendix: tuple[AppendixBlock, ...]
    signature: str
    dated: date
    figures: YearFigures

    @property
    def body(self) -> tuple[str, ...]:
        """The narrative paragraphs under the heading, in order."""
        closing = (self.closing,) if self.closing else ()
        return (self.lead, *self.items, *closing, *self.notes)

    @property
    def attachment_label(self) -> str:
        return "附件" if self.lang == "zh" else "Annex"

    @property
    def attachment_note(self) -> str:
        """附件说明: the line under the body that names the appendix."""
        sep = "：" if self.lang == "zh" else ": "
        return f"{self.attachment_label}{sep}{self.attachment_name}"

    @property
    def dated_text(self) -> str:
        return zh_date(self.dated) if self.lang == "zh" else en_date(self.dated)


# --- naming the campaigns -------------------------------------------------------------


def _strip_year(title: str, year: int) -> str:
    for prefix in (f"{year}年度", f"{year}年", f"{year} "):
        if title.startswith(prefix) and len(title) > len(prefix):
            return title[len(prefix) :]
    return title


def _zh_name(e: CampaignEntry) -> str:
    """The short name of running text: 科技活动周, 全民国家安全教育日, or the title's core."""
    if e.observance_zh and e.observance_zh in e.title:
        return e.observance_zh
    name = _strip_year(e.title, e.year)
    for suffix in ("宣传活动", "系列活动", "活动"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _zh_tagged(e: CampaignEntry) -> str:
    name = _zh_name(e)
    tag = _TAGS.get(e.kind)
    return f"“{tag}”{name}" if tag and name == e.observance_zh else name


def _zh_event(e: CampaignEntry) -> str:
    return e.title if e.title.endswith("活动") else f"{e.title}系列活动"


def _en_name(e: CampaignEntry) -> str:
    if e.observance_en and e.observance_zh and e.observance_zh in e.title:
        return f"{e.observance_en} {e.year}"
    return e.title


def _zh_when(e: CampaignEntry) -> str:
    period = zh_period(e.first_day, e.last_day)
    if e.first_day == e.last_day:
        return f"{_zh_name(e)}当天（{period}）"
    return f"{_zh_name(e)}期间（{period}）"


def _en_when(e: CampaignEntry) -> str:
    period = en_period(e.first_day, e.last_day)
    if e.first_day == e.last_day:
        return f"On {_en_name(e)} ({period})"
    return f"During {_en_name(e)} ({period})"


# --- figures ---------------------------------------------------------------------------


def _zh_figure(m: MetricFigure, value: int, *, exact: bool) -> str:
    vague = not exact and m.metric_id in VAGUE_METRICS
    return official_zh(value, m.unit, exact=exact, money=m.money, vague=vague)


def _en_figure(m: MetricFigure, value: int, *, exact: bool) -> str:
    vague = not exact and m.metric_id in VAGUE_METRICS
    return official_en(value, m.unit_en, exact=exact, money=m.money, vague=vague)


def _zh_clause(m: MetricFigure, value: int, *, exact: bool) -> str:
    return _ZH_PHRASES.get(m.metric_id, m.zh) + _zh_figure(m, value, exact=exact)


def _en_clause(m: MetricFigure, value: int, *, exact: bool) -> str:
    figure = _en_figure(m, value, exact=exact)
    return EN_PHRASES.get(m.metric_id, f"recorded {{n}} ({m.en})").format(n=figure)


def _stated(e: CampaignEntry) -> list[MetricFigure]:
    """The metrics a paragraph states: those with a positive total, in the observance's order."""
    return [m for m in e.metrics if m.total > 0]


def _en_join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _change_zh(name: str, pct: float) -> str:
    if pct > 0:
        return f"{name}增长{percent(pct)}"
    if pct < 0:
        return f"{name}下降{percent(-pct)}"
    return f"{name}持平"


def _change_en(name: str, pct: float) -> str:
    if pct == 0:
        return f"{name} unchanged"
    return f"{name} {'up' if pct > 0 else 'down'} {percent(abs(pct))}"


def _pct(now: int, before: int) -> float:
    return round(100 * (now - before) / before, 1)


def _as_of(e: CampaignEntry) -> date | None:
    return datetime.fromisoformat(e.as_of).date() if e.as_of else None


# --- one campaign's sentences ------------------------------------------------------------


def _zh_sentences(e: CampaignEntry, *, exact: bool, in_group: bool) -> str:
    if e.source == "planned":
        period = zh_period(e.first_day, e.last_day)
        return f"{_zh_name(e)}宣传活动计划于{period}开展。" if in_group else ""
    before = f"我局联合{e.partners}，" if e.partners else ""
    where = f"在{e.venue}" if e.venue else ""
    forms = f"通过{'、'.join(e.forms)}等形式" if e.forms else ""
    verb = "开展" if where or forms else "组织开展"
    activity = "集中宣传活动" if e.venue else "宣传活动"
    stated = _stated(e)
    figures = "，共" + "，".join(_zh_clause(m, m.total, exact=exact) for m in stated)
    text = f"{_zh_when(e)}，{before}{where}{forms}{verb}{activity}{figures if stated else ''}。"
    changes = [
        _change_zh(m.zh, m.change_pct) for m in e.metrics if m.change_pct is not None and m.total
    ]
    if changes:
        text += f"与上年同期相比，{'，'.join(changes)}。"
    if e.source == "live":
        day = _as_of(e)
        when = f"截至{day.month}月{day.day}日的" if day else ""
        state = "活动仍在进行" if e.status == "running" else "尚未最终汇总"
        text += f"（以上为{when}实时数据，{state}。）"
    return text


def _en_sentences(e: CampaignEntry, *, exact: bool, in_group: bool) -> str:
    if e.source == "planned":
        period = en_period(e.first_day, e.last_day)
        return f"{_en_name(e)} is planned for {period}." if in_group else ""
    together = f"together with {e.partners}, " if e.partners else ""
    where = f" at {e.venue}" if e.venue else ""
    forms = f" through {_en_join(e.forms)}" if e.forms else ""
    clauses = _en_join([_en_clause(m, m.total, exact=exact) for m in _stated(e)])
    if clauses and (where or forms):
        action = f"the bureau campaigned{where}{forms}, and {clauses}"
    elif clauses:
        action = f"the bureau {clauses}"
    else:
        action = f"the bureau campaigned{where}{forms}"
    text = f"{together}{action}."
    text = f"{_en_when(e)}, {text}" if in_group else text[0].upper() + text[1:]
    changes = [
        _change_en(m.en, m.change_pct) for m in e.metrics if m.change_pct is not None and m.total
    ]
    if changes:
        text += f" Compared with last year: {'; '.join(changes)}."
    if e.source == "live":
        day = _as_of(e)
        when = f" as of {en_date(day)}" if day else ""
        state = "the campaign is still running" if e.status == "running" else "not yet final"
        text += f" (Live figures{when}; {state}.)"
    return text


def _zh_item(n: int, item: tuple[CampaignEntry, ...], *, exact: bool) -> str:
    ordinal = f"{zh_number(n)}是"
    if len(item) == 1:
        e = item[0]
        if e.source == "planned":
            return f"{ordinal}计划于{zh_period(e.first_day, e.last_day)}开展{_zh_event(e)}。"
        return f"{ordinal}积极开展{_zh_event(e)}。" + _zh_sentences(e, exact=exact, in_group=False)
    names = "、".join(_zh_tagged(e) for e in item)
    verb = "积极开展" if any(e.held for e in item) else "计划开展"
    opener = f"{ordinal}{verb}{names}系列宣传活动。"
    return opener + "".join(_zh_sentences(e, exact=exact, in_group=True) for e in item)


def _en_item(n: int, item: tuple[CampaignEntry, ...], *, exact: bool) -> str:
    ordinal = en_ordinal(n)
    if len(item) == 1:
        e = item[0]
        if e.source == "planned":
            return f"{ordinal}, {_en_name(e)} is planned for {en_period(e.first_day, e.last_day)}."
        period = en_period(e.first_day, e.last_day)
        opener = f"{ordinal}, {_en_name(e)} ({period}). "
        return opener + _en_sentences(e, exact=exact, in_group=False)
    opener = f"{ordinal}, the campaigns of {_en_join([_en_name(e) for e in item])}."
    return opener + "".join(" " + _en_sentences(e, exact=exact, in_group=True) for e in item)


# --- the year ------------------------------------------------------------------------------


def _items(
    figures: YearFigures, groups: Sequence[str], order: Order
) -> list[tuple[CampaignEntry, ...]]:
    """The paragraphs: groups as given, every other campaign alone; cancelled ones left out."""
    position = {e.campaign_id: i for i, e in enumerate(figures.entries)}
    kept = {e.campaign_id: e for e in figures.entries if e.source != "cancelled"}
    grouped: list[tuple[CampaignEntry, ...]] = []
    placed: set[str] = set()
    for members in resolve_groups(figures, groups):
        placed.update(members)
        item = tuple(kept[m] for m in members if m in kept)
        if item:
            grouped.append(item)
    alone: list[tuple[CampaignEntry, ...]] = [(e,) for cid, e in kept.items() if cid not in placed]
    if order == "given":
        return grouped + alone
    return sorted(grouped + alone, key=lambda item: min(position[e.campaign_id] for e in item))


def _zh_lead(figures: YearFigures, *, exact: bool) -> str:
    year, held = figures.year, figures.held
    planned = [e for e in figures.entries if e.source == "planned"]
    if not figures.entries:
        return f"{year}年度未登记宣传活动。"
    if not held:
        if planned:
            return f"{year}年度宣传活动尚未开展，已安排{len(planned)}场次。"
        return f"{year}年度未开展宣传活动。"
    totals = figures.totals()
    clauses = [
        _zh_clause(figures.metric_info[mid], totals[mid], exact=exact)
        for mid in LEAD_METRICS
        if totals.get(mid, 0) > 0
    ]
    text = f"{year}年，我局共组织开展宣传活动{len(held)}场次"
    if clauses:
        text += "，累计" + "，".join(clauses)
    if planned:
        text += f"；另有{len(planned)}场次尚未开展"
    return text + "。"


def _en_lead(figures: YearFigures, *, exact: bool) -> str:
    year, held = figures.year, figures.held
    planned = [e for e in figures.entries if e.source == "planned"]
    if not figures.entries:
        return f"No publicity campaign was registered for {year}."
    if not held:
        if planned:
            noun = "campaign is" if len(planned) == 1 else "campaigns are"
            return (
                f"No publicity campaign of {year} has been held yet; {len(planned)} {noun} planned."
            )
        return f"No publicity campaign was held in {year}."
    totals = figures.totals()
    clauses = [
        _en_clause(figures.metric_info[mid], totals[mid], exact=exact)
        for mid in LEAD_METRICS
        if totals.get(mid, 0) > 0
    ]
    noun = "campaign" if len(held) == 1 else "campaigns"
    text = f"In {year} the bureau held {len(held)} publicity {noun}"
    if clauses:
        text += ", which together " + _en_join(clauses)
    if planned:
        text += f"; {len(planned)} more {'is' if len(planned) == 1 else 'are'} planned"
    return text + "."


def _year_changes(figures: YearFigures) -> list[tuple[MetricFigure, float]]:
    totals = figures.totals()
    return [
        (figures.metric_info[mid], _pct(totals[mid], figures.previous_totals[mid]))
        for mid in LEAD_METRICS
        if totals.get(mid, 0) > 0 and figures.previous_totals.get(mid, 0) > 0
    ]


def _zh_closing(figures: YearFigures) -> str | None:
    if not figures.previous_held or not figures.held:
        return None
    diff = len(figures.held) - figures.previous_held
    if diff > 0:
        parts = [f"宣传活动增加{diff}场次"]
    elif diff < 0:
        parts = [f"宣传活动减少{-diff}场次"]
    else:
        parts = ["宣传活动场次持平"]
    parts += [_change_zh(m.zh, pct) for m, pct in _year_changes(figures)]
    return f"与上年相比，全年{'，'.join(parts)}。"


def _en_closing(figures: YearFigures) -> str | None:
    if not figures.previous_held or not figures.held:
        return None
    diff = len(figures.held) - figures.previous_held
    if diff:
        noun = "campaign" if abs(diff) == 1 else "campaigns"
        parts = [f"{abs(diff)} {'more' if diff > 0 else 'fewer'} {noun}"]
    else:
        parts = ["as many campaigns"]
    parts += [_change_en(m.en, pct) for m, pct in _year_changes(figures)]
    return f"Compared with {figures.year - 1}: {'; '.join(parts)}."


def _notes(figures: YearFigures, lang: Lang) -> tuple[str, ...]:
    notes = []
    for e in figures.entries:
        if e.source != "cancelled":
            continue
        if lang == "zh":
            notes.append(
                f"注：{e.title}（{zh_period(e.first_day, e.last_day)}）已取消，未列入本节。"
            )
        else:
            period = en_period(e.first_day, e.last_day)
            notes.append(f"Note: {e.title} ({period}) was cancelled and is not included.")
    return tuple(notes)


def _status(e: CampaignEntry, lang: Lang) -> str:
    day = _as_of(e)
    if lang == "zh":
        if e.source == "final":
            return f"终稿第{e.version}版" if e.version else "终稿"
        if e.source == "live":
            return f"实时数据，截至{day.month}月{day.day}日" if day else "实时数据"
        return "计划"
    if e.source == "final":
        return f"final, version {e.version}" if e.version else "final"
    if e.source == "live":
        return f"live, as of {en_date(day)}" if day else "live"
    return "planned"


def _appendix(
    items: list[tuple[CampaignEntry, ...]], lang: Lang
) -> tuple[tuple[str, ...], tuple[AppendixBlock, ...]]:
    if lang == "zh":
        headers = ("序号", "活动", "时间", "指标", "数量", "上年同期", "同比")
    else:
        headers = ("No.", "Campaign", "Dates", "Metric", "Figure", "Last year", "Change")
    blocks = []
    entries = [e for item in items for e in item]
    for n, e in enumerate(entries, start=1):
        rows = []
        for m in e.metrics:
            if lang == "zh":
                figure = exact_zh(m.total, m.unit, money=m.money)
                before = "—" if m.previous is None else exact_zh(m.previous, m.unit, money=m.money)
                name = m.zh
            else:
                figure = f"{m.total:,} {m.unit_en}".strip()
                before = "—" if m.previous is None else f"{m.previous:,} {m.unit_en}".strip()
                name = m.en
            change = "—" if m.change_pct is None else f"{m.change_pct:+g}%"
            rows.append((name, figure, before, change))
        if not rows:
            if e.source == "planned":
                empty = "尚未开展" if lang == "zh" else "not held yet"
            else:
                empty = "无统计数据" if lang == "zh" else "nothing recorded"
            rows.append(("—", empty, "—", "—"))
        period = (
            zh_period(e.first_day, e.last_day, with_year=True)
            if lang == "zh"
            else en_period(e.first_day, e.last_day)
        )
        blocks.append(AppendixBlock(str(n), e.title, _status(e, lang), period, tuple(rows)))
    return headers, tuple(blocks)


def draft_year_report(
    figures: YearFigures,
    *,
    lang: Lang = "zh",
    exact: bool = False,
    heading: str | None = None,
    groups: Sequence[str] = (),
    order: Order = "date",
    org_name: str,
    signature: str | None = None,
    dated: date,
) -> YearReport:
    """The year's report as data, ready for any writer."""
    items = _items(figures, groups, order)
    org = clean_text(org_name)
    year = figures.year
    if lang == "zh":
        title_lines: tuple[str, ...] = (org, f"关于{year}年度宣传活动开展情况的报告")
        lead = _zh_lead(figures, exact=exact)
        paragraphs = tuple(_zh_item(n, item, exact=exact) for n, item in enumerate(items, 1))
        closing = _zh_closing(figures)
        attachment = f"{year}年度宣传活动数据统计表"
    else:
        title_lines = (f"{org}:", f"report on the publicity campaigns of {year}")
        lead = _en_lead(figures, exact=exact)
        paragraphs = tuple(_en_item(n, item, exact=exact) for n, item in enumerate(items, 1))
        closing = _en_closing(figures)
        attachment = f"Figures of the publicity campaigns of {year}"
    headers, blocks = _appendix(items, lang)
    title = "".join(title_lines) if lang == "zh" else " ".join(title_lines)
    return YearReport(
        year=year,
        lang=lang,
        title=title,
        title_lines=title_lines,
        heading=clean_text(heading) if heading and clean_text(heading) else DEFAULT_HEADING[lang],
        lead=lead,
        items=paragraphs,
        closing=closing,
        notes=_notes(figures, lang),
        attachment_name=attachment,
        appendix_headers=headers,
        appendix=blocks,
        signature=clean_text(signature) if signature and clean_text(signature) else org,
        dated=dated,
        figures=figures,
    )
