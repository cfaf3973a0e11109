"""The year's report as PDF, typeset by Typst (the `typst` wheel) in the GB/T 9704 layout of
the .docx, with Noto Serif SC and Noto Sans SC from the `pylopdf-fonts-zh-cn` wheel embedded.

Why Typst and not LibreOffice converting the .docx (see the README's "Year report"):
- it is a wheel: `uv sync` brings it on any machine, as Redis and PostgreSQL come for the
  tests, where LibreOffice is a system install of several hundred MB;
- it uses exactly the fonts it is given (`ignore_system_fonts`): every glyph comes from the
  two embedded Noto fonts whatever the machine has installed, where LibreOffice substitutes
  the named 公文 fonts through the machine's fontconfig;
- it typesets in a fraction of a second inside the process, with no office profile, lock
  or child process to manage in a worker.
The cost is a second layout of the same document; both read the one `YearReport` and the
layout constants of `gbt9704`, and the tests check the two against each other.

The report's strings reach Typst as JSON through `sys.inputs`, never as markup: a title
with `#`, `*`, `[`, `<w:t>` or anything else is set as plain text.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any, cast

from campaigns.reports import gbt9704
from campaigns.reports.section import YearReport

FONT_PACKAGE = "pylopdf_fonts_zh_cn"
SERIF = "Noto Serif SC"  # for 仿宋, 宋体, 方正小标宋 and 楷体, which no wheel provides
SANS = "Noto Sans SC"  # for 黑体

_TEMPLATE = r"""
#let data = json(bytes(sys.inputs.report))
#let pitch = data.pitch * 1pt
#let body-size = data.body_size * 1pt
#let edges = (top-edge: 0.88em, bottom-edge: -0.12em)
#set document(title: data.title, author: data.signature)
#set page(
  width: data.page.at(0) * 1mm,
  height: data.page.at(1) * 1mm,
  margin: (
    top: data.margins.top * 1mm,
    bottom: data.margins.bottom * 1mm,
    left: data.margins.left * 1mm,
    right: data.margins.right * 1mm,
  ),
  footer-descent: data.page_number_gap * 1mm,
  footer: context {
    let n = counter(page).get().first()
    let size = data.page_number_size * 1pt
    let number = text(font: data.fonts.page, size: size, tracking: 0pt)[— #str(n) —]
    if calc.odd(n) {
      align(right, pad(right: 1em, number))
    } else {
      align(left, pad(left: 1em, number))
    }
  },
)
#set text(
  font: data.fonts.body,
  size: body-size,
  lang: data.lang,
  region: data.region,
  tracking: data.tracking * 1pt,
  // Word and WPS put no extra gap between Chinese and digits: neither does the PDF.
  cjk-latin-spacing: none,
  hyphenate: false,
  ..edges,
)
#set par(
  justify: true,
  first-line-indent: (amount: 2em, all: true),
  leading: pitch - 1em,
  spacing: pitch - 1em,
)
#let title(lines) = {
  set text(font: data.fonts.title, size: data.title_size * 1pt, tracking: 0pt)
  set par(first-line-indent: 0em, leading: pitch - 1em, spacing: pitch - 1em)
  align(center, lines.map(line => [#line]).join(linebreak()))
}
#let blank = par[#h(0em)]

#title(data.title_lines)
#blank
#text(font: data.fonts.heading)[#data.heading]
#for paragraph in data.body [
  #par[#paragraph]
]
#blank
#par[#data.attachment_note]
#blank
#set par(first-line-indent: 0em)
#align(right, pad(right: data.signature_indent * 1pt)[#data.signature])
#align(right, pad(right: data.date_indent * 1pt)[#data.dated])

#pagebreak()
#text(font: data.fonts.heading1)[#data.attachment_label]
#blank
#title((data.attachment_name,))
#blank
#{
  set text(size: data.table_size * 1pt, tracking: 0pt)
  set par(leading: 0.5em, spacing: 0.5em, justify: false)
  let cells = ()
  for block in data.appendix {
    let span = block.rows.len()
    cells.push(table.cell(rowspan: span)[#block.number])
    cells.push(table.cell(rowspan: span)[#block.campaign])
    cells.push(table.cell(rowspan: span)[#block.period])
    for row in block.rows {
      for value in row {
        cells.push([#value])
      }
    }
  }
  table(
    columns: data.columns.map(w => w * 1mm),
    align: center + horizon,
    inset: 4pt,
    stroke: 0.5pt,
    table.header(..data.headers.map(h => text(font: data.fonts.heading1)[#h])),
    ..cells,
  )
}
"""


def _font_dir() -> str:
    return str(importlib.resources.files(FONT_PACKAGE))


def _data(report: YearReport) -> dict[str, Any]:
    zh = report.lang == "zh"
    heading_2 = report.heading.startswith(("（", "("))
    sig_indent, date_indent = gbt9704.signature_indents(report)
    status = "（{}）" if zh else " ({})"
    return {
        "lang": "zh" if zh else "en",
        "region": "cn" if zh else "gb",
        "title": report.title,
        "title_lines": list(gbt9704.title_lines(report)),
        "heading": report.heading,
        "body": list(report.body),
        "attachment_note": report.attachment_note,
        "signature": report.signature,
        "dated": report.dated_text,
        "signature_indent": sig_indent,
        "date_indent": date_indent,
        "attachment_label": report.attachment_label,
        "attachment_name": report.attachment_name,
        "headers": list(report.appendix_headers),
        "appendix": [
            {
                "number": block.number,
                "campaign": block.campaign + status.format(block.status),
                "period": block.period,
                "rows": [list(row) for row in block.rows],
            }
            for block in report.appendix
        ],
        "columns": list(gbt9704.APPENDIX_COLUMNS_MM),
        "page": list(gbt9704.PAGE_MM),
        "margins": dict(gbt9704.MARGINS_MM),
        "page_number_gap": gbt9704.PAGE_NUMBER_GAP_MM,
        "pitch": gbt9704.LINE_PITCH_PT,
        "body_size": gbt9704.SIZE_BODY,
        "title_size": gbt9704.SIZE_TITLE,
        "table_size": gbt9704.SIZE_TABLE,
        "page_number_size": gbt9704.SIZE_PAGE_NUMBER,
        "tracking": gbt9704.BODY_SPACING_TWIPS / 20,
        "fonts": {
            "title": SERIF,
            "body": SERIF,
            "heading": SERIF if heading_2 else SANS,
            "heading1": SANS,
            "page": SERIF,
        },
    }


def write_pdf(report: YearReport) -> bytes:
    """The report as PDF bytes; every glyph from the two embedded Noto fonts."""
    import typst

    stamp = datetime.combine(report.dated, time(12), tzinfo=UTC)
    # The stub ties the source's type to the font paths' (one TypeVar): bytes and a str path.
    compile_source = cast(Callable[..., bytes | list[bytes] | None], typst.compile)
    result = compile_source(
        _TEMPLATE.encode(),
        font_paths=[_font_dir()],
        ignore_system_fonts=True,
        sys_inputs={"report": json.dumps(_data(report), ensure_ascii=False)},
        timestamp=stamp,
    )
    assert isinstance(result, bytes)
    return result
