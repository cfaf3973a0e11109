"""One campaign's 成果统计 on one page, in the GB/T 9704 layout of the year's report.

What the summary email attaches for a final summary: the title ("2019年世界知识产权日宣传活动
成果统计"), the Chinese narrative of the summary (`summaries.prose`), a table of the exact
figures (指标 | 数量 | 单位, then 目标 | 完成 when the campaign has targets and 上年同期 | 同比
when last year's campaign is known), the unsealed signature block (署名 and 成文日期). Page,
styles, fonts and page numbers are `gbt9704`'s.

One page: the writer counts the height before it writes. Every body line is set at the grid's
28.95 pt and every table row at an exact pitch, so the height is the title's lines, the
narrative's lines (estimated with line-breaking rules and a line's slack) and the rows. If the
page would overflow it tries, in order: the narrative without its 对照目标 and 与上年同期
sentences (the table states those figures exactly), then the table in 五号 at a tighter
pitch. A campaign with many more metrics than a page holds still gets every figure, on a
second page.

User text (the campaign's title and venue, metric names, correction notes) is cleaned of
control characters by `year.clean_text` before any of it reaches the narrative or the XML;
python-docx escapes the rest.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from campaigns.reports import gbt9704
from campaigns.reports.section import zh_date
from campaigns.reports.year import clean_text
from campaigns.summaries.prose import narrative, percent

Figures = dict[str, Any]

SIZE_TABLE_COMPACT = 10.5  # 五号
# Exact line pitch of a table row (pt), for 小四 and 五号: room for Noto CJK's tall line.
TABLE_PITCH = {gbt9704.SIZE_TABLE: 18.0, SIZE_TABLE_COMPACT: 15.0}
# A row is its pitch plus the grid's borders; the cell's left and right margins (Table Grid:
# 108 twips each) narrow the text.
ROW_EXTRA_PT = 1.0
CELL_MARGINS_PT = 2 * 108 / 20
# One body line held back for what estimates cannot see (a line broken early before a
# number, the table's start off the grid).
SLACK_LINES = 1

# Least column widths (mm): seven digits, 人次, 上年同期, +11.1% in 小四 with the cell's
# margins. What the 156 mm line has left goes half to 指标, half to the others.
_MIN_WIDTHS_MM = {
    "指标": 28.0,
    "数量": 22.0,
    "单位": 14.0,
    "目标": 22.0,
    "完成": 20.0,
    "上年同期": 22.0,
    "同比": 20.0,
}
# Punctuation that may not start a line (it goes with the character before) or end one.
_NO_LINE_START = frozenset("，。、；：！？）》」』”’%")
_NO_LINE_END = frozenset("（《「『“‘")
SUFFIX = "成果统计"


@dataclass(frozen=True, slots=True)
class CampaignSheet:
    """The sheet as data: what `write_campaign_docx` sets, and what its tests read back."""

    title: str
    title_lines: tuple[str, ...]
    narrative: str
    # True when the narrative was shortened to fit the page (targets and last year in the
    # table only).
    shortened: bool
    # A blank line between the narrative and the table (dropped first when space is short).
    gap: bool
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths_mm: tuple[float, ...]
    table_size: float
    signature: str
    dated: date
    version: int

    @property
    def dated_text(self) -> str:
        return zh_date(self.dated)

    @property
    def table_pitch(self) -> float:
        return TABLE_PITCH[self.table_size]


def cleaned(value: Any) -> Any:
    """The figures with every string value cleaned of control characters (keys are ids)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: cleaned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cleaned(item) for item in value]
    return value


def _sheet_title(figures: Figures) -> tuple[str, tuple[str, ...]]:
    c = figures["campaign"]
    name = c["title"] or c["id"]
    year = c.get("year")
    if year and not name.startswith(str(year)):
        name = f"{year}年{name}"
    title = name + SUFFIX
    return title, gbt9704.fit_title(title, (name, SUFFIX))


def _table(figures: Figures) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    metrics: dict[str, dict[str, Any]] = figures["metrics"]
    targets = any(m.get("target") is not None for m in metrics.values())
    previous = any(m.get("previous") is not None for m in metrics.values())
    headers = ["指标", "数量", "单位"]
    headers += ["目标", "完成"] if targets else []
    headers += ["上年同期", "同比"] if previous else []
    rows = []
    for metric_id, m in metrics.items():
        row = [m.get("zh") or metric_id, str(m["total"]), m.get("unit") or ""]
        if targets:
            target, reached = m.get("target"), m.get("reached_pct")
            row += ["" if target is None else str(target)]
            row += ["" if reached is None else percent(reached)]
        if previous:
            before, change = m.get("previous"), m.get("change_pct")
            row += ["" if before is None else str(before)]
            row += ["" if change is None else f"{change:+g}%"]
        rows.append(tuple(row))
    return tuple(headers), tuple(rows)


def _widths(headers: tuple[str, ...]) -> tuple[float, ...]:
    line_mm = gbt9704.PAGE_MM[0] - gbt9704.MARGINS_MM["left"] - gbt9704.MARGINS_MM["right"]
    least = [_MIN_WIDTHS_MM[h] for h in headers]
    spare = line_mm - sum(least)
    others = sum(least[1:])
    widths = [least[0] + spare / 2] + [w + spare / 2 * w / others for w in least[1:]]
    return tuple(math.floor(w * 10) / 10 for w in widths)


def _without_comparisons(figures: Figures) -> Figures:
    """The figures as the short narrative reads them: no target or last-year sentence."""
    metrics = {
        mid: {**m, "reached_pct": None, "change_pct": None} for mid, m in figures["metrics"].items()
    }
    return {**figures, "metrics": metrics}


# --- how tall it is -----------------------------------------------------------------------


def _advance(ch: str, size: float, tracking: float) -> float:
    # Wide and ambiguous characters (— “ ” · as well as CJK) take a full em in the CJK
    # fonts; Latin letters and digits are proportional: 0.6 em is a wide digit (Noto's are
    # 0.56, 仿宋's 0.5), % nearly a full em.
    if unicodedata.east_asian_width(ch) in ("W", "F", "A"):
        return size + tracking
    return (0.95 if ch == "%" else 0.6) * size + tracking


def _latin(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("Na", "H", "N") and not ch.isspace()


def _tokens(text: str) -> list[str]:
    """What a line break cannot split: a run of Latin letters or digits, one CJK character,
    with the punctuation that may not start or end a line kept on its side."""
    tokens: list[str] = []
    pending = ""
    for ch in text:
        if ch in _NO_LINE_START and tokens:
            tokens[-1] += ch
        elif ch in _NO_LINE_END:
            pending += ch
        elif _latin(ch) and tokens and not pending:
            if _latin(tokens[-1][-1]):
                tokens[-1] += ch
            else:
                tokens.append(ch)
        else:
            tokens.append(pending + ch)
            pending = ""
    if pending:
        tokens.append(pending)
    return tokens


def count_lines(text: str, size: float, width: float, *, indent: float = 0.0) -> int:
    """Lines `text` takes at `size` in a column `width` pt wide (first line indented)."""
    if not text:
        return 1
    tracking = gbt9704.BODY_SPACING_TWIPS / 20 if size == gbt9704.SIZE_BODY else 0.0
    lines, used = 1, indent
    for token in _tokens(text):
        advance = sum(_advance(ch, size, tracking) for ch in token)
        if used + advance > width and used > 0:
            lines += 1
            used = 0.0
        used += advance
        while used > width:  # a token wider than the column wraps inside itself
            lines += 1
            used -= width
    return lines


def height_in_lines(sheet: CampaignSheet) -> float:
    """The sheet's height in body lines (28.95 pt): what must stay within 22 for one page."""
    pitch = gbt9704.LINE_PITCH_PT
    title = sum(
        count_lines(line, gbt9704.SIZE_TITLE, gbt9704.TEXT_WIDTH_PT) for line in sheet.title_lines
    )
    body = count_lines(
        sheet.narrative,
        gbt9704.SIZE_BODY,
        gbt9704.TEXT_WIDTH_PT,
        indent=2 * gbt9704.SIZE_BODY,
    )
    table_pt = 0.0
    for row in (sheet.headers, *sheet.rows):
        cell_lines = max(
            count_lines(text, sheet.table_size, width * 72 / 25.4 - CELL_MARGINS_PT)
            for text, width in zip(row, sheet.widths_mm, strict=True)
        )
        table_pt += cell_lines * sheet.table_pitch + ROW_EXTRA_PT
    # Title, a blank line, the narrative, (a blank line,) the table, a blank line, 署名 and
    # 成文日期.
    return title + 1 + body + sheet.gap + table_pt / pitch + 3


def fits_one_page(sheet: CampaignSheet) -> bool:
    return height_in_lines(sheet) <= gbt9704.LINES_PER_PAGE - SLACK_LINES


# --- drafting and writing -------------------------------------------------------------------


def draft_campaign_sheet(
    figures: Figures, *, version: int, org_name: str, signature: str | None, dated: date
) -> CampaignSheet:
    """The sheet as data, in the first form that fits one page (see the module's note)."""
    figures = cleaned(figures)
    title, lines = _sheet_title(figures)
    headers, rows = _table(figures)
    org = clean_text(org_name)
    signed = clean_text(signature) if signature else ""
    full = narrative(figures, lang="zh")
    short = narrative(_without_comparisons(figures), lang="zh")
    small = gbt9704.SIZE_TABLE
    candidates = [(full, False, small, True), (full, False, small, False)]
    if short != full:
        candidates += [(short, True, small, True), (short, True, small, False)]
    candidates.append((short, short != full, SIZE_TABLE_COMPACT, False))
    sheet = None
    for text, shortened, size, gap in candidates:
        sheet = CampaignSheet(
            title=title,
            title_lines=lines,
            narrative=text,
            shortened=shortened,
            gap=gap,
            headers=headers,
            rows=rows,
            widths_mm=_widths(headers),
            table_size=size,
            signature=signed or org,
            dated=dated,
            version=version,
        )
        if fits_one_page(sheet):
            break
    assert sheet is not None
    return sheet


class _SheetWriter(gbt9704.GbtDocument):
    def __init__(self, sheet: CampaignSheet) -> None:
        super().__init__("zh")
        self.sheet = sheet

    def write(self) -> bytes:
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.shared import Mm

        sheet = self.sheet
        self.start()
        self._title_lines(sheet.title_lines)
        self._body("")
        self._body(sheet.narrative)
        if sheet.gap:
            self._body("")
        table = self.doc.add_table(rows=1, cols=len(sheet.headers))
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        size, pitch = sheet.table_size, sheet.table_pitch
        for cell, header in zip(table.rows[0].cells, sheet.headers, strict=True):
            self._cell(cell, header, gbt9704.FONT_HEADING_1, size, pitch)
        for row in sheet.rows:
            for cell, value in zip(table.add_row().cells, row, strict=True):
                self._cell(cell, value, gbt9704.FONT_BODY, size, pitch)
        for column, width in zip(table.columns, sheet.widths_mm, strict=True):
            column.width = Mm(width)
        for table_row in table.rows:
            for cell, width in zip(table_row.cells, sheet.widths_mm, strict=True):
                cell.width = Mm(width)
        self._body("")
        self._signature(sheet)
        return self.save(
            title=sheet.title, author=sheet.signature, dated=sheet.dated, revision=sheet.version
        )


def write_sheet(sheet: CampaignSheet) -> bytes:
    return _SheetWriter(sheet).write()


def write_campaign_docx(
    figures: Figures, *, version: int, org_name: str, signature: str | None, dated: date
) -> bytes:
    """The campaign's 成果统计 as .docx bytes: one page in the GB/T 9704-2012 layout."""
    sheet = draft_campaign_sheet(
        figures, version=version, org_name=org_name, signature=signature, dated=dated
    )
    return write_sheet(sheet)
