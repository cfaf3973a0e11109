"""The year's report as a Word document in the layout of GB/T 9704-2012 (党政机关公文格式).

- A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm (版心 156 × 225 mm);
  22 lines of 28 characters: a line grid of 28.95 pt (`w:docGrid w:type="lines"`,
  `w:linePitch` 579), every paragraph at exactly that pitch, and body text condensed by
  0.25 pt a character (`w:spacing` -5), so that 28 characters of 3号 fill the 156 mm line
  (28 × 15.75 pt = 441 pt of 442.2 pt). Word and WPS would also take a character grid
  (`linesAndChars` with `w:charSpace`), but LibreOffice 7.4 reads its pitch as twice the
  font size and sets 14 characters a line, so the grid holds lines only.
- Title in 2号 (22 pt) 方正小标宋简体, centred; body in 3号 (16 pt) 仿宋_GB2312, justified,
  the first line indented two characters; headings 一、 in 黑体, （一） in 楷体_GB2312.
- Page numbers "— 1 —" in 4号 (14 pt) 宋体 under the 版心, odd pages right and even pages
  left, one character in (different odd and even footers: `w:evenAndOddHeaders`).
- The unsealed signature block: 署名 two characters from the right, one line below the body,
  and under it the 成文日期 in Arabic numerals without leading zeros, its first character two
  characters right of the signature's.
- 附件说明 under the body; the appendix on a new page: "附件" in 黑体 at the top left, its
  title centred, then the table of exact figures.

Fonts are named, not shipped: the clerk's Word or WPS has them. python-docx's `font.name`
sets only the Latin slots (python-docx #154), so every style and every run gets all four
`w:rFonts` slots, `w:eastAsia` included; the template's theme font attributes, which would
override the named fonts, are removed; the East-Asian language is zh-CN on every style and
run and in `w:themeFontLang` (the template's ja-JP makes Word fall back to a Japanese font,
python-docx #1601); Latin text keeps en-US, as Chinese Word writes it.
Text is set with python-docx, which escapes it; `year.clean_text` already removed the
control characters XML cannot hold.

`GbtDocument` is the layout (styles, page, page numbers, title, signature block) that every
document in this format shares: the year's report here, a campaign's 成果统计 in
`campaign_sheet`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from campaigns.reports.section import YearReport

if TYPE_CHECKING:
    from docx.document import Document
    from docx.styles.style import ParagraphStyle
    from docx.table import _Cell
    from docx.text.paragraph import Paragraph

FONT_TITLE = "方正小标宋简体"
FONT_BODY = "仿宋_GB2312"
FONT_HEADING_1 = "黑体"
FONT_HEADING_2 = "楷体_GB2312"
FONT_PAGE_NUMBER = "宋体"
FONT_LATIN_EN = "Times New Roman"

SIZE_TITLE = 22.0  # 2号
SIZE_BODY = 16.0  # 3号
SIZE_PAGE_NUMBER = 14.0  # 4号
SIZE_TABLE = 12.0  # 小四

PAGE_MM = (210, 297)
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
LINES_PER_PAGE = 22
CHARS_PER_LINE = 28
TEXT_WIDTH_PT = (PAGE_MM[0] - MARGINS_MM["left"] - MARGINS_MM["right"]) * 72 / 25.4
# 225 mm / 22 lines = 28.95 pt, i.e. 579 twentieths of a point.
LINE_PITCH_TWIPS = 579
LINE_PITCH_PT = LINE_PITCH_TWIPS / 20
# The page number's rule sits 7 mm under the 版心.
PAGE_NUMBER_GAP_MM = 7

_THEME_ATTRIBUTES = ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme")
_RPR_ORDER = (
    "w:rStyle",
    "w:rFonts",
    "w:b",
    "w:bCs",
    "w:i",
    "w:iCs",
    "w:caps",
    "w:smallCaps",
    "w:strike",
    "w:dstrike",
    "w:outline",
    "w:shadow",
    "w:emboss",
    "w:imprint",
    "w:noProof",
    "w:snapToGrid",
    "w:vanish",
    "w:webHidden",
    "w:color",
    "w:spacing",
    "w:w",
    "w:kern",
    "w:position",
    "w:sz",
    "w:szCs",
    "w:highlight",
    "w:u",
    "w:effect",
    "w:bdr",
    "w:shd",
    "w:fitText",
    "w:vertAlign",
    "w:rtl",
    "w:cs",
    "w:em",
    "w:lang",
    "w:eastAsianLayout",
    "w:specVanish",
    "w:oMath",
)

# pPr children that follow w:snapToGrid (schema order).
_PPR_AFTER_SNAP_TO_GRID = (
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)

STYLE_TITLE = "GB Title"
STYLE_HEADING_1 = "GB Heading 1"
STYLE_HEADING_2 = "GB Heading 2"
STYLE_SIGNATURE = "GB Signature"
STYLE_ATTACHMENT = "GB Attachment"
STYLE_TABLE = "GB Table"
STYLE_PAGE_NUMBER = "GB Page Number"


# 序号, 活动, 时间, 指标, 数量, 上年同期, 同比: the 156 mm of the 版心.
APPENDIX_COLUMNS_MM = (12, 38, 28, 22, 22, 18, 16)

# 3号 condensed by a quarter point: 28 characters to the 156 mm line.
BODY_SPACING_TWIPS = -5


def _set_rpr(rpr: Any, east_asia: str, latin: str, size: float | None) -> None:
    """All four font slots, the size and zh-CN on an `w:rPr`, in schema order; body-size
    text is condensed to 28 characters a line."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def replace(tag: str) -> Any:
        for old in rpr.findall(qn(tag)):
            rpr.remove(old)
        element = OxmlElement(tag)
        rpr.insert_element_before(element, *_RPR_ORDER[_RPR_ORDER.index(tag) + 1 :])
        return element

    fonts = replace("w:rFonts")
    for slot, name in (("ascii", latin), ("hAnsi", latin), ("eastAsia", east_asia), ("cs", latin)):
        fonts.set(qn(f"w:{slot}"), name)
    fonts.set(qn("w:hint"), "eastAsia")
    if size == SIZE_BODY:
        replace("w:spacing").set(qn("w:val"), str(BODY_SPACING_TWIPS))
    if size is not None:
        half_points = str(round(size * 2))
        replace("w:sz").set(qn("w:val"), half_points)
        replace("w:szCs").set(qn("w:val"), half_points)
    # zh-CN is the East-Asian language; Latin text (the digits) stays en-US, as Chinese Word
    # writes it: with zh-CN there too, LibreOffice breaks a line inside a number (近1|0000).
    lang = replace("w:lang")
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")


def _strip_theme_fonts(root: Any) -> None:
    from docx.oxml.ns import qn

    for fonts in root.iter(qn("w:rFonts")):
        for attribute in _THEME_ATTRIBUTES:
            fonts.attrib.pop(qn(f"w:{attribute}"), None)


class Signed(Protocol):
    """What the signature block needs: the 署名 and the 成文日期 as written."""

    @property
    def signature(self) -> str: ...

    @property
    def dated_text(self) -> str: ...


class GbtDocument:
    """A document in the GB/T 9704 layout: `start()` sets the styles and the page (with its
    page numbers); the helpers below add the title, body paragraphs, table cells and the
    signature block; `save()` sets the properties and gives the bytes."""

    def __init__(self, lang: str) -> None:
        from docx import Document as new_document

        self.lang = lang
        self.latin_body = FONT_BODY if lang == "zh" else FONT_LATIN_EN
        self.doc: Document = new_document()

    def start(self) -> None:
        """Styles and page set up, the template's empty first paragraph removed."""
        self._styles()
        self._page()
        body = self.doc.paragraphs[0] if self.doc.paragraphs else None
        if body is not None:
            body._p.getparent().remove(body._p)

    def save(self, *, title: str, author: str, dated: date, revision: int = 1) -> bytes:
        props = self.doc.core_properties
        props.title = title
        props.author = author
        props.language = "zh-CN" if self.lang == "zh" else "en-US"
        props.created = props.modified = datetime.combine(dated, time())
        props.last_modified_by = author
        props.revision = revision
        out = io.BytesIO()
        self.doc.save(out)
        return out.getvalue()

    # --- styles ------------------------------------------------------------------------

    def _fonts(self, east_asia: str) -> tuple[str, str]:
        """(East-Asian, Latin) names: Chinese documents keep one font for every slot."""
        return east_asia, east_asia if self.lang == "zh" else FONT_LATIN_EN

    def _paragraph_style(
        self,
        name: str,
        font: str,
        size: float,
        *,
        align: Any,
        indent_chars: int = 0,
        outline: int | None = None,
        keep_with_next: bool = False,
        exact_pitch: float | None = LINE_PITCH_PT,
        snap_to_grid: bool = True,
    ) -> ParagraphStyle:
        from docx.enum.style import WD_STYLE_TYPE
        from docx.enum.text import WD_LINE_SPACING
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn
        from docx.shared import Pt

        styles = self.doc.styles
        style: ParagraphStyle = styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = styles["Normal"]
        style.quick_style = True
        fmt = style.paragraph_format
        fmt.alignment = align
        fmt.space_before = Pt(0)
        fmt.space_after = Pt(0)
        if exact_pitch is not None:
            fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            fmt.line_spacing = Pt(exact_pitch)
        else:
            fmt.line_spacing_rule = WD_LINE_SPACING.SINGLE
        fmt.first_line_indent = Pt(indent_chars * size)
        fmt.keep_with_next = keep_with_next
        ind = style.element.get_or_add_pPr().find(qn("w:ind"))
        if ind is not None:
            ind.set(qn("w:firstLineChars"), str(indent_chars * 100))
        if not snap_to_grid:
            # Larger or smaller text than the body keeps its own pitch instead of two lines.
            snap = OxmlElement("w:snapToGrid")
            snap.set(qn("w:val"), "0")
            style.element.get_or_add_pPr().insert_element_before(snap, *_PPR_AFTER_SNAP_TO_GRID)
        if outline is not None:
            level = OxmlElement("w:outlineLvl")
            level.set(qn("w:val"), str(outline))
            style.element.get_or_add_pPr().append(level)
        _set_rpr(style.element.get_or_add_rPr(), *self._fonts(font), size)
        return style

    def _styles(self) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
        from docx.oxml.ns import qn
        from docx.shared import Pt

        styles_root = self.doc.styles.element
        defaults = styles_root.find(qn("w:docDefaults"))
        rpr = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr"))
        _set_rpr(rpr, *self._fonts(FONT_BODY), SIZE_BODY)
        normal = self.doc.styles["Normal"]
        fmt = normal.paragraph_format
        fmt.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
        fmt.space_before = Pt(0)
        fmt.space_after = Pt(0)
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(LINE_PITCH_PT)
        fmt.first_line_indent = Pt(2 * SIZE_BODY)
        normal.element.get_or_add_pPr().find(qn("w:ind")).set(qn("w:firstLineChars"), "200")
        fmt.widow_control = False
        _set_rpr(normal.element.get_or_add_rPr(), *self._fonts(FONT_BODY), SIZE_BODY)
        center, left, right = (
            WD_ALIGN_PARAGRAPH.CENTER,
            WD_ALIGN_PARAGRAPH.LEFT,
            WD_ALIGN_PARAGRAPH.RIGHT,
        )
        self._paragraph_style(
            STYLE_TITLE, FONT_TITLE, SIZE_TITLE, align=center, outline=0, snap_to_grid=False
        )
        for name, font, level in (
            (STYLE_HEADING_1, FONT_HEADING_1, 1),
            (STYLE_HEADING_2, FONT_HEADING_2, 2),
        ):
            self._paragraph_style(
                name,
                font,
                SIZE_BODY,
                align=WD_ALIGN_PARAGRAPH.JUSTIFY,
                indent_chars=2,
                outline=level,
                keep_with_next=True,
            )
        self._paragraph_style(STYLE_SIGNATURE, FONT_BODY, SIZE_BODY, align=right)
        self._paragraph_style(STYLE_ATTACHMENT, FONT_HEADING_1, SIZE_BODY, align=left)
        self._paragraph_style(
            STYLE_TABLE, FONT_BODY, SIZE_TABLE, align=center, exact_pitch=None, snap_to_grid=False
        )
        page = self._paragraph_style(
            STYLE_PAGE_NUMBER,
            FONT_PAGE_NUMBER,
            SIZE_PAGE_NUMBER,
            align=right,
            exact_pitch=None,
            snap_to_grid=False,
        )
        # 宋体 in every slot: the page number's digits are 半角宋体 too.
        _set_rpr(page.element.get_or_add_rPr(), FONT_PAGE_NUMBER, FONT_PAGE_NUMBER, None)
        _strip_theme_fonts(styles_root)
        # The template's other styles (tables, lists, latent formatting) name their fonts by
        # theme only; with the theme attributes gone each names the body font in the
        # East-Asian slot, so no style falls back to a theme's (Japanese) East-Asian font.
        for fonts in styles_root.iter(qn("w:rFonts")):
            if fonts.get(qn("w:eastAsia")) is None:
                fonts.set(qn("w:eastAsia"), fonts.get(qn("w:ascii")) or FONT_BODY)
        theme_lang = self.doc.settings.element.find(qn("w:themeFontLang"))
        if theme_lang is not None:
            theme_lang.set(qn("w:val"), "en-US")
            theme_lang.set(qn("w:eastAsia"), "zh-CN")

    # --- page ----------------------------------------------------------------------------

    def _page(self) -> None:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn
        from docx.shared import Mm, Pt

        section = self.doc.sections[0]
        section.page_width, section.page_height = Mm(PAGE_MM[0]), Mm(PAGE_MM[1])
        section.top_margin = Mm(MARGINS_MM["top"])
        section.bottom_margin = Mm(MARGINS_MM["bottom"])
        section.left_margin = Mm(MARGINS_MM["left"])
        section.right_margin = Mm(MARGINS_MM["right"])
        section.header_distance = Mm(15)
        # The footer's one line (4号, set exactly) ends its height below the page-number gap.
        section.footer_distance = Mm(MARGINS_MM["bottom"] - PAGE_NUMBER_GAP_MM) - Pt(
            SIZE_PAGE_NUMBER
        )
        sect_pr = section._sectPr
        for grid in sect_pr.findall(qn("w:docGrid")):
            sect_pr.remove(grid)
        grid = OxmlElement("w:docGrid")
        grid.set(qn("w:type"), "lines")
        grid.set(qn("w:linePitch"), str(LINE_PITCH_TWIPS))
        sect_pr.append(grid)
        self.doc.settings.odd_and_even_pages_header_footer = True
        section.footer.is_linked_to_previous = False
        section.even_page_footer.is_linked_to_previous = False
        self._page_number(section.footer.paragraphs[0], odd=True)
        self._page_number(section.even_page_footer.paragraphs[0], odd=False)

    def _page_number(self, paragraph: Paragraph, *, odd: bool) -> None:
        from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn
        from docx.shared import Pt

        paragraph.style = self.doc.styles[STYLE_PAGE_NUMBER]
        fmt = paragraph.paragraph_format
        fmt.alignment = WD_ALIGN_PARAGRAPH.RIGHT if odd else WD_ALIGN_PARAGRAPH.LEFT
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(SIZE_PAGE_NUMBER)
        # 单页码居右空一字，双页码居左空一字.
        if odd:
            fmt.right_indent = Pt(SIZE_PAGE_NUMBER)
        else:
            fmt.left_indent = Pt(SIZE_PAGE_NUMBER)
        fmt.first_line_indent = Pt(0)
        self._run(paragraph, "— ", FONT_PAGE_NUMBER, SIZE_PAGE_NUMBER, latin=FONT_PAGE_NUMBER)
        for kind, text in (("begin", None), (None, " PAGE "), ("separate", None)):
            run = self._run(paragraph, "", FONT_PAGE_NUMBER, SIZE_PAGE_NUMBER, FONT_PAGE_NUMBER)
            if kind:
                char = OxmlElement("w:fldChar")
                char.set(qn("w:fldCharType"), kind)
                run._r.append(char)
            else:
                instr = OxmlElement("w:instrText")
                instr.set(qn("xml:space"), "preserve")
                instr.text = text
                run._r.append(instr)
        self._run(paragraph, "1", FONT_PAGE_NUMBER, SIZE_PAGE_NUMBER, latin=FONT_PAGE_NUMBER)
        end = self._run(paragraph, "", FONT_PAGE_NUMBER, SIZE_PAGE_NUMBER, FONT_PAGE_NUMBER)
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), "end")
        end._r.append(char)
        self._run(paragraph, " —", FONT_PAGE_NUMBER, SIZE_PAGE_NUMBER, latin=FONT_PAGE_NUMBER)

    # --- text ----------------------------------------------------------------------------

    def _run(
        self, paragraph: Paragraph, text: str, font: str, size: float, latin: str | None = None
    ) -> Any:
        run = paragraph.add_run(text)
        east_asia, default_latin = self._fonts(font)
        _set_rpr(run._r.get_or_add_rPr(), east_asia, latin or default_latin, size)
        return run

    def _paragraph(self, text: str, style: str, font: str, size: float) -> Paragraph:
        paragraph = self.doc.add_paragraph(style=self.doc.styles[style])
        if text:
            self._run(paragraph, text, font, size)
        return paragraph

    def _title_lines(self, lines: Sequence[str]) -> Paragraph:
        """The title centred, a line break between `lines`."""
        paragraph = self._paragraph("", STYLE_TITLE, FONT_TITLE, SIZE_TITLE)
        for i, line in enumerate(lines):
            run = self._run(paragraph, line, FONT_TITLE, SIZE_TITLE)
            if i < len(lines) - 1:
                run.add_break()
        return paragraph

    def _body(self, text: str) -> Paragraph:
        return self._paragraph(text, "Normal", FONT_BODY, SIZE_BODY)

    def _signature(self, signed: Signed) -> None:
        from docx.shared import Pt

        sig_indent, date_indent = signature_indents(signed)
        for text, indent in ((signed.signature, sig_indent), (signed.dated_text, date_indent)):
            paragraph = self._paragraph(text, STYLE_SIGNATURE, FONT_BODY, SIZE_BODY)
            paragraph.paragraph_format.right_indent = Pt(indent)

    def _cell(
        self,
        cell: _Cell,
        text: str,
        font: str,
        size: float = SIZE_TABLE,
        exact_pitch: float | None = None,
    ) -> Paragraph:
        """The cell's one paragraph in the table style, `size` text (小四 unless told), at
        `exact_pitch` when given (a row height the writer can count on)."""
        from docx.enum.text import WD_LINE_SPACING
        from docx.shared import Pt

        paragraph: Paragraph = cell.paragraphs[0]
        for extra in cell.paragraphs[1:]:
            extra._p.getparent().remove(extra._p)
        for run in list(paragraph.runs):
            run._r.getparent().remove(run._r)
        paragraph.style = self.doc.styles[STYLE_TABLE]
        if exact_pitch is not None:
            paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
            paragraph.paragraph_format.line_spacing = Pt(exact_pitch)
        self._run(paragraph, text, font, size)
        return paragraph


class _Writer(GbtDocument):
    """The year's report: title, heading, body, 附件说明, signature, the appendix table."""

    def __init__(self, report: YearReport) -> None:
        super().__init__(report.lang)
        self.report = report

    def _title(self) -> None:
        """The title centred; one too long for the line breaks after the organisation."""
        self._title_lines(title_lines(self.report))

    def _appendix(self) -> None:
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.shared import Mm

        report = self.report
        label = self._paragraph(report.attachment_label, STYLE_ATTACHMENT, FONT_HEADING_1, 16)
        # The page break goes before the label, so the label is the new page's first line.
        label.paragraph_format.page_break_before = True
        self._body("")
        self._paragraph(report.attachment_name, STYLE_TITLE, FONT_TITLE, SIZE_TITLE)
        self._body("")
        headers = report.appendix_headers
        table = self.doc.add_table(rows=1, cols=len(headers))
        table.style = self.doc.styles["Table Grid"]
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        widths = APPENDIX_COLUMNS_MM
        for cell, header in zip(table.rows[0].cells, headers, strict=True):
            self._cell(cell, header, FONT_HEADING_1)
        _repeat_header(table.rows[0])
        for block in report.appendix:
            first = len(table.rows)
            for row in block.rows:
                cells = table.add_row().cells
                for cell, value in zip(cells[3:], row, strict=True):
                    self._cell(cell, value, FONT_BODY)
            last = len(table.rows) - 1
            status = f"（{block.status}）" if report.lang == "zh" else f" ({block.status})"
            for column, value in (
                (0, block.number),
                (1, block.campaign + status),
                (2, block.period),
            ):
                cell = table.cell(first, column)
                if last > first:
                    cell = cell.merge(table.cell(last, column))
                self._cell(cell, value, FONT_BODY)
        for column, width in zip(table.columns, widths, strict=True):
            column.width = Mm(width)
        for row in table.rows:
            for cell, width in zip(row.cells, widths, strict=True):
                cell.width = Mm(width)

    # --- the document ------------------------------------------------------------------

    def write(self) -> bytes:
        report = self.report
        self.start()
        self._title()
        self._body("")
        heading_style, heading_font = (
            (STYLE_HEADING_2, FONT_HEADING_2)
            if report.heading.startswith(("（", "("))
            else (STYLE_HEADING_1, FONT_HEADING_1)
        )
        self._paragraph(report.heading, heading_style, heading_font, SIZE_BODY)
        for text in report.body:
            self._body(text)
        self._body("")
        self._body(report.attachment_note)
        self._body("")
        self._signature(report)
        self._appendix()
        return self.save(title=report.title, author=report.signature, dated=report.dated)


def title_lines(report: YearReport) -> tuple[str, ...]:
    """The title as set: one line if it fits, else broken after the organisation (when both
    parts fit), else one paragraph that wraps where it must."""
    return fit_title(report.title, report.title_lines)


def fit_title(title: str, lines: tuple[str, ...]) -> tuple[str, ...]:
    """`title` on one line if it fits, else as `lines` (when each fits), else one paragraph
    that wraps where it must."""
    if text_width(title, SIZE_TITLE) <= TEXT_WIDTH_PT:
        return (title,)
    if all(text_width(line, SIZE_TITLE) <= TEXT_WIDTH_PT for line in lines):
        return lines
    return (title,)


def signature_indents(signed: Signed) -> tuple[float, float]:
    """Right indents (pt) of the 署名 and the 成文日期: the signature two characters from the
    right, the date's first character two characters right of the signature's first."""
    sig_width = text_width(signed.signature, SIZE_BODY)
    date_width = text_width(signed.dated_text, SIZE_BODY)
    two = 2 * SIZE_BODY
    date_indent = sig_width - date_width
    if date_indent < 0:
        return two - date_indent, 0.0
    return two, date_indent


def text_width(text: str, size: float) -> float:
    """Width at `size` in points: full-width characters one em, the rest half."""
    return sum(size if ord(ch) > 0x2E7F else size / 2 for ch in text)


def _repeat_header(row: Any) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    tr_pr = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def write_docx(report: YearReport) -> bytes:
    """The report as .docx bytes in the GB/T 9704-2012 layout."""
    return _Writer(report).write()
