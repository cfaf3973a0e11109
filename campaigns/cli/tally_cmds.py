"""Commands that record what happened: log, import, correct."""

from __future__ import annotations

import gc
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from campaigns.cli._common import actor, console, session, settings
from campaigns.cli.progress import Progress

if TYPE_CHECKING:
    from sqlmodel import Session

    from campaigns.tallies.encoding import NewTally
    from campaigns.tallies.sheets.reader import ImportReport

app = typer.Typer(rich_markup_mode=None)


@app.command()
def log(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    metric: Annotated[str, typer.Argument(metavar="METRIC")],
    quantity: Annotated[str, typer.Argument(metavar="QUANTITY")],
    item: Annotated[str | None, typer.Option()] = None,
    venue: Annotated[str | None, typer.Option()] = None,
    at: Annotated[str | None, typer.Option(help="When it happened (default: now).")] = None,
    by: Annotated[str | None, typer.Option(help="Who recorded it.")] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key counts once.")
    ] = None,
    new: Annotated[
        bool,
        typer.Option("--new", help="This is another one, not a repeat: skip the repeat check."),
    ] = False,
    note: Annotated[str | None, typer.Option()] = None,
    unit: Annotated[
        str | None, typer.Option(help="The reporting unit (code or name) it is from.")
    ] = None,
    final: Annotated[
        bool,
        typer.Option("--final", help="The unit's last tally: with it, the unit has reported."),
    ] = False,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait until it is counted (0: don't).")
    ] = 30.0,
) -> None:
    """Record one tally: `campaigns log 2019-world-ip-day materials 300`."""
    from campaigns.errors import InvalidInputError

    if final and unit is None:
        raise InvalidInputError("--final goes with --unit: the unit whose report it completes")
    tally = _validated(
        campaign_id,
        metric,
        quantity,
        item=item,
        venue=venue,
        at=at,
        by=by,
        key=key,
        new=new,
        note=note,
        correction=False,
        reason=None,
        unit=unit,
    )
    reports_for = [tally.unit] if final and tally.unit else []
    tally, hint, stored = _publish_one(
        campaign_id, tally, at=at, key=key, new=new, wait=wait, what="log", reports_for=reports_for
    )
    what = f"{tally.metric} {tally.quantity}"
    if stored is None:
        line = _queued(what, tally.key, hint)
    else:
        shown = f"{what} (key {tally.key}{hint})"
        line = f"counted: {shown}" if stored else f"already counted: {shown}"
        if reports_for:
            # Counted means its batch is complete: the unit was marked in that transaction.
            line += f"; report of {unit} complete"
    _say(line)


@app.command()
def correct(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    metric: Annotated[str, typer.Argument(metavar="METRIC")],
    delta: Annotated[str, typer.Argument(metavar="DELTA")],
    reason: Annotated[str, typer.Option(help="Why the figure changes (required).")],
    at: Annotated[str | None, typer.Option()] = None,
    key: Annotated[str | None, typer.Option()] = None,
    new: Annotated[
        bool,
        typer.Option("--new", help="This is another one, not a repeat: skip the repeat check."),
    ] = False,
    unit: Annotated[
        str | None, typer.Option(help="The reporting unit (code or name) whose figure it is.")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait until it is counted (0: don't).")
    ] = 30.0,
) -> None:
    """Record a correction: `campaigns correct ID materials -- -20 --reason "counted twice"`."""
    tally = _validated(
        campaign_id,
        metric,
        delta,
        item=None,
        venue=None,
        at=at,
        by=actor(),
        key=key,
        new=new,
        note=None,
        correction=True,
        reason=reason,
        unit=unit,
    )
    tally, hint, stored = _publish_one(
        campaign_id, tally, at=at, key=key, new=new, wait=wait, what="correction"
    )
    if stored is None:
        line = _queued(f"correction {tally.metric} {tally.quantity:+}", tally.key, hint)
    elif stored:
        line = f"corrected: {tally.metric} {tally.quantity:+} ({reason}, key {tally.key}{hint})"
    else:
        line = f"already counted: correction with key {tally.key}"
        if hint:
            line += f" ({hint.removeprefix('; ')})"
    _say(line)


def _say(line: str) -> None:
    # Keys are typed by users: printed as they are, never read as Rich markup. One line
    # however long (a long key, a repeat's hint): scripts and tests read it as one.
    console().print(line, markup=False, soft_wrap=True)


def _queued(what: str, key: str, hint: str = "") -> str:
    # Accepted is accepted: the tally's pending copy is committed and a worker counts it.
    # Exit 0 and the key, so that whoever repeats the command repeats it with `--key`.
    return (
        f"queued: {what} (key {key}; counted when a worker runs; "
        f"repeating the command with --key {key} counts it once{hint})"
    )


def _publish_one(
    campaign_id: str,
    tally: NewTally,
    *,
    at: str | None,
    key: str | None,
    new: bool,
    wait: float,
    what: str,
    reports_for: list[str] | None = None,
) -> tuple[NewTally, str, int | None]:
    """Publish one tally as a batch, its key decided by the repeat check (`key_log`); with
    `reports_for` (`log --final`), the batch is those units' report.

    Returns the tally as published; the hint to show when it repeats an earlier log ("; the
    same log was made at 10:02; add --new if this is another one", else ""); and how many
    were new (0 or 1) once a worker stored it, or None when `wait` ended first (the tally is
    accepted and queued all the same).
    """
    from campaigns.cli.publish import PublishInterruptedError, poll_batch, publish_tallies
    from campaigns.planning.campaigns import get_campaign
    from campaigns.tallies.encoding import encode_chunk, to_columns
    from campaigns.tallies.repeats import LOG_SOURCE, key_log

    with session() as s:
        zone = ZoneInfo(get_campaign(campaign_id, session=s).timezone)
        logged = key_log(
            campaign_id,
            tally,
            session=s,
            at=at,
            explicit_key=key.strip() if key else None,
            new=new,
            window_seconds=settings().repeat_window_seconds,
        )
    hint = ""
    if logged.repeat_of is not None:
        made = logged.repeat_of.created_at.astimezone(zone)
        hint = f"; the same {what} was made at {made:%H:%M}; add --new if this is another one"
    columns, source = to_columns([logged.tally], zone)
    try:
        batch_id = publish_tallies(
            campaign_id,
            [encode_chunk(columns, source=source, reports_for=reports_for or ())],
            source=LOG_SOURCE,
            tallies=1,
            chunk_count=1,
            digest=logged.digest,
            tally_key=logged.tally.key,
        )
    except PublishInterruptedError as interrupted:
        if not interrupted.all_kept:
            raise
        # Its pending copy is committed: accepted. A worker's sweep publishes it.
        return logged.tally, hint + "; the broker did not answer, it is kept until it is back", None
    if wait <= 0:
        return logged.tally, hint, None
    progress = poll_batch(batch_id, timeout=wait)
    if not progress.complete:
        return logged.tally, hint, None
    if progress.refused:
        from campaigns.errors import ConflictError

        raise ConflictError(progress.refused)
    return logged.tally, hint, progress.stored


def _validated(
    campaign_id: str,
    metric_name: str,
    quantity_text: str,
    *,
    item: str | None,
    venue: str | None,
    at: str | None,
    by: str | None,
    key: str | None,
    new: bool,
    note: str | None,
    correction: bool,
    reason: str | None,
    unit: str | None,
) -> NewTally:
    """The tally as typed, checked; its key is decided when it is published (`_publish_one`)."""
    from campaigns.errors import InvalidInputError
    from campaigns.models import utcnow
    from campaigns.planning.campaigns import get_campaign, metric_catalogue
    from campaigns.tallies.checks import check_accepting, check_quantity, check_within
    from campaigns.tallies.encoding import NewTally
    from campaigns.when import parse_when

    if new and key is not None:
        raise InvalidInputError("--key and --new: give one or the other (--key K names the tally)")
    for what, value in (
        ("--item", item),
        ("--venue", venue),
        ("--by", by),
        ("--note", note),
        ("--key", key),
        ("--reason", reason),
        ("--unit", unit),
    ):
        if value is not None and (any(ord(c) < 32 for c in value) or len(value) > 500):
            raise InvalidInputError(f"{what}: control characters or over 500 characters")
    if correction and not (reason and reason.strip()):
        raise InvalidInputError("--reason: a correction must say why")
    try:
        quantity = int(quantity_text.strip().replace(",", ""))
    except ValueError:
        raise InvalidInputError(f"QUANTITY {quantity_text!r}: not a whole number") from None
    where = "DELTA" if correction else "QUANTITY"
    check_quantity(quantity, correction=correction, where=f"{where} {quantity}")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        check_accepting(campaign)
        metric = metric_catalogue(session=s).resolve(metric_name)
        unit_code = None if unit is None else _unit_code(campaign_id, unit, session=s)
    occurred = parse_when(at, zone=ZoneInfo(campaign.timezone)) if at else utcnow()
    if correction and at is None:
        # A correction amends the campaign as a whole; date it inside the campaign.
        occurred = min(max(occurred, campaign.start_at), campaign.end_at - _SECOND)
    check_within(campaign, occurred, where="--at" if at else "now (give --at)")
    return NewTally(
        metric=metric.id,
        quantity=quantity,
        occurred_at=occurred,
        key="",
        item=item,
        venue=venue,
        recorded_by=by or actor(),
        note=note,
        is_correction=correction,
        reason=reason,
        source="cli",
        unit=unit_code,
    )


def _unit_code(campaign_id: str, text: str, *, session: Session) -> str:
    """`--unit`'s code: a unit kept (by code or name) that takes part in the campaign."""
    from campaigns.planning.participants import check_participating
    from campaigns.planning.units import load_directory

    directory = load_directory(session=session)
    code = directory.resolve(text, where="--unit").code
    check_participating(campaign_id, [code], session=session, directory=directory)
    return code


_SECOND = timedelta(seconds=1)


@app.command("import")
def import_(
    campaign_id: Annotated[str, typer.Argument(metavar="ID")],
    file: Annotated[Path, typer.Argument(metavar="FILE")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate only.")] = False,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Store the good rows; bad ones go to a rejects file."),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every tally is counted.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits.")] = 600.0,
    trust_rows: Annotated[
        bool,
        typer.Option(
            "--trust-rows",
            help="Import the rows as they are when a 合计/小计 row disagrees with them.",
        ),
    ] = False,
    unit: Annotated[
        str | None,
        typer.Option(help="The reporting unit (code or name) of the rows without a 单位 cell."),
    ] = None,
) -> None:
    """Import tallies from a CSV file (UTF-8, UTF-8 with BOM or GB18030) or a workbook
    (.xlsx, .xls, .ods: every sheet with a tally table), long or wide (统计表) layout."""
    from campaigns.cli.publish import PublishInterruptedError, publish_tallies, wait_for_batch
    from campaigns.errors import ConflictError, InvalidInputError
    from campaigns.planning.campaigns import get_campaign, metric_catalogue
    from campaigns.tallies.batches import completed_import
    from campaigns.tallies.checks import check_accepting
    from campaigns.tallies.chunks import file_digest, import_chunks
    from campaigns.tallies.sheets.import_errors import ImportFileError
    from campaigns.tallies.sheets.reader import read_tally_file
    from campaigns.tallies.sheets.rejects import write_rejects

    if not file.is_file():
        raise InvalidInputError(f"{file}: no such file")
    with session() as s:
        campaign = get_campaign(campaign_id, session=s)
        check_accepting(campaign)
        catalogue = metric_catalogue(session=s)
    name = file.name
    with Progress(file.stat().st_size >= _PROGRESS_BYTES) as bar:
        reading = bar.add("reading " + name, None)
        try:
            report = read_tally_file(
                file,
                campaign_id=campaign_id,
                catalogue=catalogue,
                timezone=ZoneInfo(campaign.timezone),
                window=(campaign.start_at, campaign.end_at),
                progress=lambda rows: bar.update(reading, rows),
            )
        except ImportFileError as exc:
            raise InvalidInputError(str(exc)) from None
    reports_for, unit_code = _row_units(campaign_id, report, name, unit)
    # The rows live until the end: spare them the collector's rescans while chunks are made.
    gc.freeze()
    good, bad = len(report.accepted), len(report.errors)
    for line in _sheet_lines(name, report):
        _say(line)
    for error in report.errors:
        print(f"campaigns: {error}", file=sys.stderr)
    if report.mismatches and not trust_rows:
        for mismatch in report.mismatches:
            print(f"campaigns: {mismatch}", file=sys.stderr)
    for mismatch in report.mismatches if trust_rows else ():
        _say(f"{mismatch} (--trust-rows: the rows are imported as they are)")
    rows_bad, rows_good = report.bad_rows, report.total_rows - report.bad_rows
    if bad and not skip_invalid:
        raise InvalidInputError(
            f"{name}: {rows_bad:,} bad rows ({bad:,} errors); nothing stored "
            "(fix them, or --skip-invalid to store the good rows)"
        )
    if report.mismatches and not trust_rows:
        count = len(report.mismatches)
        raise InvalidInputError(
            f"{name}: {count:,} total cell(s) disagree with their rows; nothing stored"
            " (fix the sheet, or --trust-rows to import the rows as they are)"
        )
    tallies = "" if good == rows_good else f" ({good:,} tallies)"
    if dry_run:
        console().print(
            f"{name}: {rows_good:,} valid rows{tallies}, {rows_bad:,} bad (dry run: nothing stored)"
        )
        return
    if bad:
        rejects = ", ".join(map(str, write_rejects(report, file)))
        if not good:
            raise InvalidInputError(
                f"{name}: no valid rows; nothing stored (bad rows written to {rejects})"
            )
        console().print(f"{name}: {rows_bad:,} bad rows written to {rejects}")
    if not good:
        console().print(f"{name}: nothing to count: every figure is empty, '-' or 0")
        return
    digest = file_digest(file, unit=unit_code)
    if not bad:
        with session() as s:
            earlier = completed_import(campaign_id, digest, session=s)
        if earlier is not None and earlier.tallies == good:
            when = earlier.created_at.astimezone(ZoneInfo(campaign.timezone))
            console().print(
                f"{name}: 0 new, {good:,} already counted "
                f"(the same file was imported {when:%Y-%m-%d %H:%M})"
            )
            return
    size = max(1, settings().import_chunk_size)
    source = f"import:{name}"[:200]
    chunks = import_chunks(
        report.accepted, campaign, size=size, source=source, actor=actor(), reports_for=reports_for
    )
    with Progress(good >= _PROGRESS_ROWS) as bar:
        sending = bar.add("queueing", good)
        try:
            batch_id = publish_tallies(
                campaign_id,
                chunks,
                source=source,
                tallies=good,
                chunk_count=-(-good // size),
                digest=digest,
                on_chunk=lambda n: bar.advance(sending, n),
            )
        except PublishInterruptedError as interrupted:
            if not interrupted.all_kept:
                raise
            batch_id, wait = interrupted.batch_id, False
            console().print(
                f"{name}: the broker did not answer; all {good:,} tallies are kept and a "
                "worker counts them once the broker is back"
            )
    if not wait:
        console().print(f"{name}: {good:,} tallies queued (batch {batch_id})")
        return
    with Progress(good >= _PROGRESS_ROWS) as bar:
        counting = bar.add("counting", good)
        progress = wait_for_batch(
            batch_id, timeout=timeout, on_progress=lambda n: bar.update(counting, n)
        )
    if progress.refused:
        raise ConflictError(f"{name}: not stored: {progress.refused}")
    console().print(
        f"{name}: {progress.stored:,} new, {progress.already_counted:,} already counted"
    )


def _row_units(
    campaign_id: str, report: ImportReport, name: str, unit: str | None
) -> tuple[list[str], str | None]:
    """Resolve the rows' units (`tallies.row_units`), their errors added to the report's, and
    refuse a unit not taking part; (the units the import reports for, `--unit`'s code)."""
    from campaigns.planning.participants import check_participating
    from campaigns.planning.units import load_directory
    from campaigns.tallies.row_units import resolve_row_units

    with session() as s:
        directory = load_directory(session=s)
        code = None if unit is None else directory.resolve(unit, where="--unit").code
        found = resolve_row_units(report.accepted, directory, file=name, default=code)
        used = found.codes if code is None else [*found.codes, code]
        check_participating(campaign_id, used, session=s, directory=directory)
    report.errors += found.errors
    report.bad_rows += len(found.errors)
    return found.codes, code


def _sheet_lines(name: str, report: ImportReport) -> list[str]:
    """What the file held, a line a sheet: shown for workbooks and wide sheets (a long CSV
    file says nothing more than it always did)."""
    lines: list[str] = []
    for sheet in report.sheets:
        if sheet.name is None and sheet.layout == "long" and sheet.unit_text is None:
            continue
        where = name if sheet.name is None else f"{name} [{sheet.name}]"
        tallies = f", {sheet.tallies:,} tallies" if sheet.layout == "wide" else ""
        line = (
            f"{where}: {sheet.layout} table, header row {sheet.header_row},"
            f" {sheet.rows:,} rows{tallies}"
        )
        if sheet.unit_from == "填报单位":
            line += f"; 填报单位: {sheet.unit_text}"
        lines.append(line)
    lines += [f"{name} [{sheet.name}]: skipped ({sheet.why})" for sheet in report.skipped]
    lines += report.warnings
    return lines


# A progress bar from about a few thousand rows on.
_PROGRESS_BYTES = 256 * 1024
_PROGRESS_ROWS = 5000
