"""A document written out as plain text, Markdown or HTML: one title, then paragraphs, each
followed by its tables.

Plain text lines its columns up by display width (CJK characters take two columns).
Markdown and HTML show user text literally. HTML is for email: inline styles only, no
scripts, all user text escaped.
"""

from __future__ import annotations

import html
from typing import Literal

Format = Literal["text", "markdown", "html", "json"]
Section = tuple[str, list[str], list[list[str]]]
Part = tuple[str, list[Section]]


def render_document(title: str, parts: list[Part], fmt: Format) -> str:
    """Paragraphs, each followed by its tables, under one title."""
    if fmt == "html":
        return _html(title, parts)
    if fmt == "markdown":
        return _markdown(title, parts)
    return _text(title, parts)


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
