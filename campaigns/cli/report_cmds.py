"""`campaigns report YEAR`: the year's publicity section as a document (GB/T 9704 .docx, PDF,
Markdown, HTML, text or JSON), from the stored final summaries."""

from __future__ import annotations

import sys
from datetime import date as date_type
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from campaigns.cli._common import session

if TYPE_CHECKING:
    from campaigns.reports.render import ReportFormat
    from campaigns.reports.section import Lang, Order

app = typer.Typer(rich_markup_mode=None)

_FORMATS = ("docx", "pdf", "markdown", "html", "text", "json")
_BINARY = ("docx", "pdf")


def _checked(
    lang: str, format: str | None, output: Path | None, order: str
) -> tuple[Lang, ReportFormat, Order]:
    from campaigns.errors import InvalidInputError

    if lang not in ("zh", "en"):
        raise InvalidInputError(f"--lang {lang!r}: expected zh or en")
    if format is None:
        suffix = output.suffix.lower().lstrip(".") if output else ""
        format = {"md": "markdown", "htm": "html", "txt": "text"}.get(suffix, suffix)
        if format not in _FORMATS:
            format = "text"
    if format not in _FORMATS:
        raise InvalidInputError(
            f"--format {format!r}: expected docx, pdf, markdown, html, text or json"
        )
    if order not in ("date", "given"):
        raise InvalidInputError(f"--order {order!r}: expected date or given")
    if format in _BINARY and output is None and sys.stdout.isatty():
        raise InvalidInputError(f"--format {format} writes a binary file: give -o FILE")
    if output is not None and not output.parent.is_dir():
        raise InvalidInputError(f"-o {output}: folder {output.parent} does not exist")
    return lang, format, order  # type: ignore[return-value]


@app.command()
def report(
    year: int,
    lang: Annotated[str, typer.Option(help="zh or en.")] = "zh",
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="docx, pdf, markdown, html, text or json (default: from -o's suffix, else text).",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file (else stdout).")
    ] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Exact figures in the narrative.")] = False,
    heading: Annotated[
        str | None,
        typer.Option(help="The section heading (default 一、加大法制宣传力度，增强全民法制意识)."),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            help="Campaigns held together, one paragraph: KIND+KIND or ID+ID (repeatable)."
        ),
    ] = None,
    order: Annotated[
        str,
        typer.Option(help="date: paragraphs in date order; given: the --group order first."),
    ] = "date",
    date: Annotated[
        str | None, typer.Option("--date", help="成文日期, YYYY-MM-DD (default today).")
    ] = None,
    send: Annotated[
        bool,
        typer.Option(
            "--send",
            help="Send it to the recipients of every campaign now (a new version when it changed).",
        ),
    ] = False,
) -> None:
    """The year's publicity section (一是…二是…), from the stored final summaries.

    Campaigns not reported yet appear with live figures, marked as such; planned ones get a
    line; cancelled ones are left out with a note. The organisation and the signature come
    from CAMPAIGNS_ORG_NAME and CAMPAIGNS_REPORT_SIGNATURE.
    """
    from campaigns.planning.observances import parse_day
    from campaigns.reports.render import render_year_report

    checked_lang, checked_format, checked_order = _checked(lang, format, output, order)
    dated = parse_day(date, what="--date") if date else None
    if send:
        drafting = {
            "exact": exact,
            "heading": heading,
            "groups": group or [],
            "order": checked_order,
        }
        _send(year, dated=dated, drafting=drafting)
        if output is None:
            return
    with session() as s:
        data = render_year_report(
            year,
            session=s,
            lang=checked_lang,
            fmt=checked_format,
            exact=exact,
            heading=heading,
            groups=group or [],
            order=checked_order,
            dated=dated,
        )
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    output.write_bytes(data)
    typer.echo(f"wrote {output} ({checked_format}, {len(data):,} bytes)")


def _send(year: int, *, dated: date_type | None, drafting: dict[str, Any]) -> None:
    """A version of the report, its deliveries committed, then handed to the workers."""
    from datetime import datetime

    from campaigns.cli._common import console, settings
    from campaigns.cli.publish import celery_app
    from campaigns.db import session_scope
    from campaigns.models import utcnow
    from campaigns.reports.versions import latest_year_report
    from campaigns.runtime.dispatcher import force_year_report

    app = celery_app()  # no broker: refused before anything is written
    now = utcnow()
    today = dated or datetime.now(settings().zone).date()
    queued = force_year_report(session_scope, year, now=now, dated=today, **drafting)
    if queued is None:
        with session() as s:
            latest = latest_year_report(year, session=s)
        shown = f"version {latest.version}" if latest else "the last version"
        console().print(
            f"the {year} report reads as {shown} did: nothing new to send "
            "(`campaigns deliveries`; `campaigns resend ID` sends a delivery again)"
        )
        return
    version, deliveries = queued
    for delivery_id in deliveries:
        app.send_task("campaigns.send_delivery", args=[delivery_id])
    console().print(
        f"the {year} report, version {version}: queued for {len(deliveries)} recipient(s)"
        + ("" if deliveries else " (add some with `campaigns recipients add`)")
    )
