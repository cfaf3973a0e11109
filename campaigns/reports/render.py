"""The year's report in every format, from one entry point: `render_year_report` -> bytes.

docx (GB/T 9704, `gbt9704`), pdf (`pdf`), and the plain ones written here: text, Markdown
(user text escaped), HTML (escaped, inline styles, email-safe) and JSON (the drafted text
with the figures behind it). A caller that mails or stores the report asks for bytes and
gets the same document the command writes.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from sqlmodel import Session

from campaigns.errors import InvalidInputError
from campaigns.reports.section import Lang, Order, YearReport, draft_year_report
from campaigns.reports.year import CampaignNotes, gather_year
from campaigns.settings import get_settings
from campaigns.summaries.formats import escape_markdown

ReportFormat = Literal["docx", "pdf", "markdown", "html", "text", "json"]
FORMATS: tuple[ReportFormat, ...] = ("docx", "pdf", "markdown", "html", "text", "json")
MEDIA_TYPES: dict[ReportFormat, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
    "markdown": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
}


def build_year_report(
    year: int,
    *,
    session: Session,
    lang: Lang = "zh",
    exact: bool = False,
    heading: str | None = None,
    groups: Sequence[str] = (),
    order: Order = "date",
    notes: Mapping[str, CampaignNotes] | None = None,
    dated: date | None = None,
    now: datetime | None = None,
    org_name: str | None = None,
    signature: str | None = None,
) -> YearReport:
    """Gather the year and draft its report (settings give the organisation and signature)."""
    if lang not in ("zh", "en"):
        raise InvalidInputError(f"--lang {lang!r}: expected zh or en")
    if order not in ("date", "given"):
        raise InvalidInputError(f"--order {order!r}: expected date or given")
    settings = get_settings()
    figures = gather_year(year, session=session, now=now, notes=notes)
    return draft_year_report(
        figures,
        lang=lang,
        exact=exact,
        heading=heading,
        groups=groups,
        order=order,
        org_name=org_name or settings.org_name,
        signature=signature or settings.report_signature,
        dated=dated or datetime.now(settings.zone).date(),
    )


def render_year_report(
    year: int,
    *,
    session: Session,
    lang: Lang = "zh",
    fmt: ReportFormat = "docx",
    **options: Any,
) -> bytes:
    """The year's report as a file's bytes (options as `build_year_report`)."""
    if fmt not in FORMATS:
        raise InvalidInputError(
            f"--format {fmt!r}: expected docx, pdf, markdown, html, text or json"
        )
    report = build_year_report(year, session=session, lang=lang, **options)
    return write_report(report, fmt)


def write_report(report: YearReport, fmt: ReportFormat) -> bytes:
    if fmt == "docx":
        from campaigns.reports.gbt9704 import write_docx

        return write_docx(report)
    if fmt == "pdf":
        from campaigns.reports.pdf import write_pdf

        return write_pdf(report)
    if fmt == "json":
        return (json.dumps(as_json(report), ensure_ascii=False, indent=2) + "\n").encode()
    writers = {"text": as_text, "markdown": as_markdown, "html": as_html}
    return writers[fmt](report).encode()


def appendix_rows(report: YearReport) -> list[list[str]]:
    """The appendix flattened: a campaign's number, name and dates on its first row only."""
    rows = []
    for block in report.appendix:
        status = f"（{block.status}）" if report.lang == "zh" else f" ({block.status})"
        for i, row in enumerate(block.rows):
            head = [block.number, block.campaign + status, block.period] if i == 0 else ["", "", ""]
            rows.append([*head, *row])
    return rows


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def as_text(report: YearReport) -> str:
    lines = [report.title, "", report.heading]
    for paragraph in report.body:
        lines += ["", paragraph]
    lines += ["", report.attachment_note, "", report.signature, report.dated_text]
    lines += ["", report.attachment_label, report.attachment_name, ""]
    table = [list(report.appendix_headers), *appendix_rows(report)]
    widths = [max(_width(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        cells = (value + " " * (widths[i] - _width(value)) for i, value in enumerate(row))
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def as_markdown(report: YearReport) -> str:
    def cell(value: str) -> str:
        return escape_markdown(value).replace("|", "\\|")

    lines = [f"# {escape_markdown(report.title)}", "", f"## {escape_markdown(report.heading)}"]
    for paragraph in report.body:
        lines += ["", escape_markdown(paragraph)]
    lines += ["", escape_markdown(report.attachment_note), ""]
    lines += [f"{escape_markdown(report.signature)}  ", escape_markdown(report.dated_text)]
    lines += ["", f"## {cell(report.attachment_label)}：{cell(report.attachment_name)}", ""]
    lines.append("| " + " | ".join(cell(h) for h in report.appendix_headers) + " |")
    lines.append("|" + "---|" * len(report.appendix_headers))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in appendix_rows(report)]
    return "\n".join(lines) + "\n"


_CELL = "border:1px solid #999;padding:4px 8px;"


def as_html(report: YearReport) -> str:
    esc = html.escape
    lang = "zh-CN" if report.lang == "zh" else "en"
    out = [
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(report.title)}</title></head>"
        '<body style="font-family:serif;color:#000;max-width:42em;margin:auto">',
        f'<h1 style="font-size:22px;text-align:center">{esc(report.title)}</h1>',
        f'<h2 style="font-size:16px">{esc(report.heading)}</h2>',
    ]
    out += [f'<p style="text-indent:2em;line-height:1.8">{esc(p)}</p>' for p in report.body]
    out.append(f'<p style="text-indent:2em">{esc(report.attachment_note)}</p>')
    out.append(
        f'<p style="text-align:right">{esc(report.signature)}<br>{esc(report.dated_text)}</p>'
    )
    out.append(f'<h2 style="font-size:16px">{esc(report.attachment_label)}</h2>')
    out.append(f'<h3 style="font-size:16px;text-align:center">{esc(report.attachment_name)}</h3>')
    head = "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in report.appendix_headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{esc(v)}</td>' for v in row) + "</tr>"
        for row in appendix_rows(report)
    )
    out.append(
        f'<table style="border-collapse:collapse;font-size:14px"><tr>{head}</tr>{body}</table>'
    )
    out.append("</body></html>")
    return "".join(out) + "\n"


def as_json(report: YearReport) -> dict[str, Any]:
    """The drafted text and, per campaign, where its figures come from and what they are."""
    return {
        "year": report.year,
        "lang": report.lang,
        "title": report.title,
        "heading": report.heading,
        "lead": report.lead,
        "paragraphs": list(report.items),
        "closing": report.closing,
        "notes": list(report.notes),
        "signature": report.signature,
        "date": report.dated.isoformat(),
        "appendix": {
            "name": report.attachment_name,
            "headers": list(report.appendix_headers),
            "rows": appendix_rows(report),
        },
        "campaigns": [
            {
                "id": e.campaign_id,
                "kind": e.kind,
                "title": e.title,
                "first_day": e.first_day.isoformat(),
                "last_day": e.last_day.isoformat(),
                "status": e.status,
                "source": e.source,
                "version": e.version,
                "as_of": e.as_of,
                "partners": e.partners,
                "forms": list(e.forms),
                "totals": {m.metric_id: m.total for m in e.metrics},
            }
            for e in report.figures.entries
        ],
        "previous_year": {
            "campaigns": report.figures.previous_held,
            "totals": dict(report.figures.previous_totals),
        },
    }
