"""The fill-in 统计表 a city office sends its counties, in the wide layout the importer reads.

Pure: `write_template` takes the campaign's data (title, first and last day, the metrics,
the reporting unit) as arguments and returns the .xlsx bytes; `campaigns template` gathers
them from the database. The layout, top to bottom:

- the title (2025年国家宪法日宣传活动情况统计表), merged across the table;
- 填报单位：…（盖章） and 填报日期：;
- 填表说明, one merged line on how to fill it in (it names no column, so no importer takes
  it for the header);
- the header: 序号 | 活动日期 | 活动地点 | 活动形式 | one column per metric, written as the
  catalogue's name and unit (宣传资料（份）; 参与人次 alone, its name ends in its unit) | 备注;
  each header cell carries a comment saying what goes in it;
- `EMPTY_ROWS` activity rows with data validation: whole numbers >= 0 in the metric
  columns, dates inside the campaign in 活动日期, a list of `ACTIVITY_FORMS` in 活动形式
  (other text is allowed after a warning);
- a 合计 row of SUM formulas over the activity rows;
- the footer: 填表人：  审核人：  联系电话：.

The header is frozen, the table has thin borders, columns are as wide as their Chinese
headers, and the sheet prints on A4 landscape fitted to one page wide.

The helpers at the bottom (display width, borders, fonts, print setup) give the summary's own
workbook (`campaigns.summaries.exports`) the same look.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.header_footer import HeaderFooterItem
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from campaigns.planning.metrics import Metric, MetricCatalogue

ACTIVITY_FORMS = ("宣讲", "展览", "咨询", "讲座", "发放资料", "网络宣传", "其他")
# A campaign whose observance names no metrics and that has no targets gets the columns of
# the sheets counties send most often.
DEFAULT_METRICS = ("materials", "boards", "consultations", "attendance")
EMPTY_ROWS = 20
FIXED_HEADERS = ("序号", "活动日期", "活动地点", "活动形式")
NOTE_HEADER = "备注"
TOTAL_LABEL = "合计"
BLANK = "\u3000"  # an ideographic space: room to write in by hand

TITLE_ROW, UNIT_ROW, NOTE_ROW, HEADER_ROW = 1, 2, 3, 4
FIRST_ROW = HEADER_ROW + 1

DATE_FORMAT = "yyyy-mm-dd"
NUMBER_FORMAT = "#,##0"

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SHEET_TITLE_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\'", ""))


def template_metrics(
    headline: Sequence[str], targets: Iterable[str], catalogue: MetricCatalogue
) -> list[Metric]:
    """The template's metric columns: the observance's headline metrics in its order, then
    those with targets (in the catalogue's order); `DEFAULT_METRICS` when there are none."""
    wanted = list(dict.fromkeys(headline))
    targeted = set(targets)
    wanted += [m.id for m in catalogue if m.id in targeted and m.id not in wanted]
    wanted += sorted(targeted - set(wanted))  # a deleted custom metric that still has a target
    return [catalogue.get(metric_id) for metric_id in wanted or DEFAULT_METRICS]


def metric_header(metric: Metric) -> str:
    """宣传资料（份）: the metric's Chinese name and unit, as the importer reads them back."""
    unit = metric.unit_zh.strip()
    if not unit or metric.zh.endswith(unit):
        return metric.zh
    return f"{metric.zh}（{unit}）"


def template_title(campaign_title: str) -> str:
    """2025年国家宪法日宣传活动 -> 2025年国家宪法日宣传活动情况统计表."""
    title = campaign_title.strip()
    if title.endswith("统计表"):
        return title
    if title.endswith("活动"):
        return f"{title}情况统计表"
    return f"{title}活动情况统计表"


def headers(metrics: Sequence[Metric]) -> list[str]:
    """The header row, left to right."""
    return [*FIXED_HEADERS, *(metric_header(m) for m in metrics), NOTE_HEADER]


def total_row(rows: int = EMPTY_ROWS) -> int:
    return FIRST_ROW + rows


def write_template(
    *,
    title: str,
    first_day: date,
    last_day: date,
    metrics: Sequence[Metric],
    unit: str | None = None,
    rows: int = EMPTY_ROWS,
    forms: Sequence[str] = ACTIVITY_FORMS,
) -> bytes:
    """The fill-in 统计表 as .xlsx bytes; `title` is the campaign's (see `template_title`)."""
    if not metrics:
        raise ValueError("a template needs at least one metric column")
    if last_day < first_day:
        raise ValueError(f"the campaign ends ({last_day}) before it starts ({first_day})")
    if rows < 1:
        raise ValueError("a template needs at least one activity row")
    names = headers(metrics)
    ncols = len(names)
    last_col = get_column_letter(ncols)
    first_metric, last_metric = len(FIXED_HEADERS) + 1, len(FIXED_HEADERS) + len(metrics)
    total = total_row(rows)
    footer = total + 1
    unit_text = clean_text(unit or "")
    sheet_title = clean_text(template_title(title))

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _sheet_name(unit_text) or "统计表"
    workbook.properties.title = sheet_title
    workbook.properties.creator = "campaigns"

    # Title, 填报单位 / 填报日期, 填表说明.
    _merged(sheet, TITLE_ROW, 1, ncols, safe_text(sheet_title), TITLE_FONT, CENTRE)
    sheet.row_dimensions[TITLE_ROW].height = 36
    split = max(2, ncols * 3 // 5)
    unit_line = f"填报单位：{unit_text or BLANK * 10}（盖章）"
    _merged(sheet, UNIT_ROW, 1, split, unit_line, BODY_FONT, LEFT)
    _merged(
        sheet,
        UNIT_ROW,
        split + 1,
        ncols,
        f"填报日期：{BLANK * 4}年{BLANK * 2}月{BLANK * 2}日",
        BODY_FONT,
        LEFT,
    )
    sheet.row_dimensions[UNIT_ROW].height = 22
    days = _zh_day(first_day)
    if last_day != first_day:
        days = f"{days}至{_zh_day(last_day)}之间的日期"
    note = (
        f"填表说明：每次活动填一行；日期填{days}（如{first_day.isoformat()}）；"
        "各统计栏只填不小于0的整数，没有的留空，0表示统计为零；形式可从下拉列表选择，"
        "具体内容写在最后一栏；行数不够时请在表格中间插入行；表末求和行自动计算，请勿改动。"
    )
    _merged(sheet, NOTE_ROW, 1, ncols, note, NOTE_FONT, WRAP_LEFT)
    sheet.row_dimensions[NOTE_ROW].height = 30

    # The header, with a comment on each cell.
    comments = _header_comments(first_day, last_day, forms)
    for col, name in enumerate(names, start=1):
        head = sheet.cell(HEADER_ROW, col, name)
        head.font, head.alignment, head.border, head.fill = HEADER_FONT, WRAP_CENTRE, BORDER, FILL
        text = comments.get(name) or "填整数（不小于0）；没有的留空，0表示统计为零。"
        comment = Comment(text, "campaigns")
        comment.width, comment.height = 220, 80
        head.comment = comment
    sheet.row_dimensions[HEADER_ROW].height = 32

    # The activity rows, empty, with their formats and borders; then 合计 and the footer.
    last_row = FIRST_ROW + rows - 1
    for row in range(FIRST_ROW, last_row + 1):
        for col in range(1, ncols + 1):
            cell = sheet.cell(row, col)
            cell.font, cell.border = BODY_FONT, BORDER
            if col == 2:
                cell.number_format, cell.alignment = DATE_FORMAT, CENTRE
            elif first_metric <= col <= last_metric:
                cell.number_format, cell.alignment = NUMBER_FORMAT, RIGHT
            elif col in (1, 4):
                cell.alignment = CENTRE
            else:
                cell.alignment = WRAP_LEFT
        sheet.row_dimensions[row].height = 18
    _merged(sheet, total, 1, len(FIXED_HEADERS), TOTAL_LABEL, HEADER_FONT, CENTRE, BORDER)
    for col in range(first_metric, ncols + 1):
        sum_cell = sheet.cell(total, col)
        sum_cell.font, sum_cell.border, sum_cell.alignment = HEADER_FONT, BORDER, RIGHT
        if col <= last_metric:
            letter = get_column_letter(col)
            sum_cell.value = f"=SUM({letter}{FIRST_ROW}:{letter}{last_row})"
            sum_cell.number_format = NUMBER_FORMAT
    sheet.row_dimensions[total].height = 20
    third = max(1, ncols // 3)
    parts = (
        (1, third, "填表人："),
        (third + 1, 2 * third, "审核人："),
        (2 * third + 1, ncols, "联系电话："),
    )
    for start, end, text in parts:
        _merged(sheet, footer, start, end, text, BODY_FONT, LEFT)
    sheet.row_dimensions[footer].height = 24

    _validations(sheet, rows, first_metric, last_metric, first_day, last_day, forms)

    widths = {1: 6.0, 2: 13.0, 3: 26.0, 4: 12.0, ncols: 22.0}
    for col in range(first_metric, last_metric + 1):
        widths[col] = max(10.0, display_width(names[col - 1]) + 3.0)
    set_widths(sheet, widths, title=sheet_title)
    sheet.freeze_panes = f"A{FIRST_ROW}"
    print_a4_landscape(
        sheet, area=f"A1:{last_col}{footer}", repeat_rows=f"{HEADER_ROW}:{HEADER_ROW}"
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _header_comments(first_day: date, last_day: date, forms: Sequence[str]) -> dict[str, str]:
    return {
        "序号": "按活动顺序编号（1、2、3……），可不填。",
        "活动日期": f"活动当天的日期，{first_day.isoformat()}至{last_day.isoformat()}之间，"
        f"如{first_day.isoformat()}。",
        "活动地点": "活动所在的广场、社区、学校等。",
        "活动形式": f"从下拉列表选择：{'、'.join(forms)}；具体内容写在备注。",
        NOTE_HEADER: "活动名称、主办或协办单位等需要说明的情况。",
    }


def _validations(
    sheet: Worksheet,
    rows: int,
    first_metric: int,
    last_metric: int,
    first_day: date,
    last_day: date,
    forms: Sequence[str],
) -> None:
    last_row = FIRST_ROW + rows - 1
    counts = DataValidation(
        type="whole",
        operator="greaterThanOrEqual",
        formula1="0",
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="只能填整数",
        error="请填写不小于0的整数；没有的留空。",
        showInputMessage=True,
        promptTitle="填整数",
        prompt="不小于0的整数；没有的留空，0表示统计为零。",
    )
    counts.add(
        f"{get_column_letter(first_metric)}{FIRST_ROW}:{get_column_letter(last_metric)}{last_row}"
    )
    days = DataValidation(
        type="date",
        operator="between",
        formula1=_date_formula(first_day),
        formula2=_date_formula(last_day),
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="日期不在活动期间",
        error=f"请填写{first_day.isoformat()}至{last_day.isoformat()}之间的日期。",
        showInputMessage=True,
        promptTitle="活动日期",
        prompt=f"{first_day.isoformat()}至{last_day.isoformat()}之间，如{first_day.isoformat()}。",
    )
    days.add(f"B{FIRST_ROW}:B{last_row}")
    listed = ",".join(clean_text(form).replace(",", "，") for form in forms)
    kinds = DataValidation(
        type="list",
        formula1=f'"{listed}"',
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="warning",
        errorTitle="不在列表中",
        error="建议从下拉列表选择；确需其他形式可继续，并在备注中说明。",
        showInputMessage=True,
        promptTitle="活动形式",
        prompt="从下拉列表选择。",
    )
    kinds.add(f"D{FIRST_ROW}:D{last_row}")
    for validation in (counts, days, kinds):
        sheet.add_data_validation(validation)


def _date_formula(day: date) -> str:
    return f"DATE({day.year},{day.month},{day.day})"


def _zh_day(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _sheet_name(text: str) -> str:
    return text.translate(_SHEET_TITLE_FORBIDDEN).strip()[:31]


def _merged(
    sheet: Worksheet,
    row: int,
    start: int,
    end: int,
    value: str,
    font: Font,
    alignment: Alignment,
    border: Border | None = None,
) -> None:
    cell = sheet.cell(row, start, value)
    cell.font, cell.alignment = font, alignment
    if border is not None:
        for col in range(start, end + 1):
            sheet.cell(row, col).border = border
    if end > start:
        sheet.merge_cells(start_row=row, start_column=start, end_row=row, end_column=end)


# --- the 统计表 look, shared with campaigns.summaries.exports --------------------------------

BODY_FONT = Font(name="宋体", size=11)
NOTE_FONT = Font(name="宋体", size=9)
HEADER_FONT = Font(name="宋体", size=11, bold=True)
TITLE_FONT = Font(name="黑体", size=16, bold=True)
TITLE_SIZE_RATIO = 16 / 11
_THIN = Side(style="thin", color="000000")
BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
FILL = PatternFill("solid", fgColor="F2F2F2")
CENTRE = Alignment(horizontal="center", vertical="center")
WRAP_CENTRE = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT = Alignment(horizontal="left", vertical="center")
WRAP_LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
RIGHT = Alignment(horizontal="right", vertical="center")


def display_width(text: str) -> int:
    """Columns `text` takes in a spreadsheet: a Chinese character (wide) counts two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def clean_text(text: str) -> str:
    """`text` without the control characters an .xlsx cannot hold (line breaks become
    spaces); not yet neutralised (see `safe_text`)."""
    return ILLEGAL_CHARACTERS_RE.sub("", " ".join(text.splitlines())).strip()


def safe_text(text: str) -> str:
    """`text` cleaned and, when a spreadsheet would read it as a formula, prefixed with "'"."""
    cleaned = clean_text(text)
    return "'" + cleaned if cleaned.startswith(_FORMULA_PREFIXES) else cleaned


def set_widths(sheet: Worksheet, widths: dict[int, float], *, title: str = "") -> None:
    """Column widths (in Excel's character units), widened evenly until the merged title of
    `title` fits above them."""
    needed = display_width(title) * TITLE_SIZE_RATIO + 4
    short = needed - sum(widths.values())
    if short > 0:
        for col in widths:
            widths[col] += short / len(widths)
    for col, width in widths.items():
        sheet.column_dimensions[get_column_letter(col)].width = round(width, 1)


def print_a4_landscape(sheet: Worksheet, *, area: str, repeat_rows: str) -> None:
    """A4 landscape, fitted to one page wide (as many pages tall as it takes), centred, the
    header repeated on every page, page numbers in the footer; no grid lines on screen."""
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    sheet.print_options.horizontalCentered = True
    sheet.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6)
    sheet.print_area = area
    sheet.print_title_rows = repeat_rows
    footer = HeaderFooterItem()
    footer.center.text = "第 &P 页，共 &N 页"
    sheet.oddFooter = footer
    sheet.sheet_view.showGridLines = False
