"""The lines of a printed 统计表 that are not data: 填报单位 lines, 合计 rows and footers.

- A 填报单位 line (填报单位：XX县司法局（盖章）, often with 填报日期 in the same line or cell)
  names the reporting unit: `unit_text` gives "XX县司法局".
- A row whose first filled cell is 合计, 总计, 共计 or 小计 (城关镇小计, 合 计, 合计（元）) is a
  total row (`total_label`): never counted, checked against the rows it sums.
- A row whose first filled cell begins with 填表人, 审核人, 联系电话, 注： … is a footer.
"""

from __future__ import annotations

import re

from campaigns.tallies.sheets.cells import Cells
from campaigns.tallies.sheets.metric_headers import normalise

_UNIT_LABEL = re.compile(
    r"(?:填报单位|报送单位|填表单位|单位名称)(?:[(（]\s*盖章\s*[)）])?\s*[:：]?\s*"
)
# What ends the unit's name inside a line: the next label.
_NEXT_LABEL = re.compile(
    r"(?:填报日期|填表日期|报送日期|填报时间|日期\s*[:：]|填表人|填报人|联系人|联系电话|审核人)"
)
_SEAL = re.compile(r"[(（]\s*(?:盖章|公章|章)\s*[)）]")
_TOTAL = re.compile(r"(.{0,12}?)(合计|总计|共计|小计)(?:\(.*\))?")
_FOOTER_LABELS = (
    "填表人",
    "填报人",
    "制表人",
    "统计人",
    "审核人",
    "审批人",
    "单位负责人",
    "分管领导",
    "主管领导",
    "联系人",
    "联系电话",
    "填报日期",
    "填表日期",
    "报送日期",
    # Short labels only with their colon (a venue may be called 审核中心).
    "负责人:",
    "审核:",
    "签字:",
    "签名:",
    "注:",
    "说明:",
)


def first_text(cells: Cells) -> tuple[int, str] | None:
    """The index and text of the row's first filled cell, if that cell is text."""
    for index, cell in enumerate(cells):
        if cell is None or (type(cell) is str and not cell.strip()):
            continue
        return (index, cell) if type(cell) is str else None
    return None


def unit_text(cells: Cells) -> str | None:
    """The reporting unit a 填报单位 line names ("XX县司法局"), or None if it is no such line.

    The name is the rest of the cell up to the next label, or else the next filled cell.
    """
    for index, cell in enumerate(cells):
        if type(cell) is not str:
            continue
        found = _UNIT_LABEL.search(cell)
        if found is None:
            continue
        rest = cell[found.end() :]
        after = _NEXT_LABEL.search(rest)
        name = _clean(rest[: after.start()] if after else rest)
        if not name and after is None:
            following = (c for c in cells[index + 1 :] if type(c) is str and c.strip())
            candidate = next(following, "")
            if not _NEXT_LABEL.match(candidate.strip()):
                name = _clean(candidate)
        return name or None
    return None


def _clean(text: str) -> str:
    return " ".join(_SEAL.sub("", text).split()).strip(" :：")


def total_label(cells: Cells) -> str | None:
    """ "合计", "总计", "共计" or "小计" when the row is a total row, else None."""
    first = first_text(cells)
    if first is None:
        return None
    found = _TOTAL.fullmatch(normalise(first[1]))
    return found[2] if found else None


def is_footer(cells: Cells) -> bool:
    first = first_text(cells)
    if first is None:
        return False
    text = normalise(first[1])
    return text.startswith(_FOOTER_LABELS) or _UNIT_LABEL.match(text) is not None
