"""Commands that run the background: worker, beat, serve (all of it), demo."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from campaigns.cli._common import settings

app = typer.Typer(rich_markup_mode=None)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    loglevel: Annotated[str, typer.Option()] = "INFO",
) -> None:
    """Run a Celery worker (counts tallies, compiles and delivers summaries)."""
    from campaigns.cli.publish import celery_app

    celery_app().worker_main(
        [
            "worker",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency}",
            "-Q",
            "campaigns",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat(loglevel: Annotated[str, typer.Option()] = "INFO") -> None:
    """Run the dispatcher's clock (exactly one per installation)."""
    from campaigns.cli.publish import celery_app

    data_dir = settings().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    celery_app().start(
        ["beat", f"--loglevel={loglevel}", f"--schedule={data_dir / 'celerybeat-schedule'}"]
    )


@app.command()
def serve(
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    loglevel: Annotated[str, typer.Option()] = "INFO",
    stop_timeout: Annotated[
        float,
        typer.Option(min=0, help="Seconds the worker may take to finish its tasks on stop."),
    ] = 60.0,
) -> None:
    """Run everything in one foreground process tree: the embedded Redis (unless
    CAMPAIGNS_BROKER_URL is set), a worker and the dispatcher's clock. Ctrl-C stops it."""
    from campaigns.runtime.serve import ServeOptions
    from campaigns.runtime.serve import serve as run_serve

    options = ServeOptions(concurrency=concurrency, loglevel=loglevel, stop_timeout=stop_timeout)
    run_serve(settings(), options, say=_progress("serve"))


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="An empty directory to keep the demo in (default: a new temp dir)."),
    ] = None,
) -> None:
    """The whole pipeline on this machine in about a minute, in a throwaway data dir: the
    year's four observances (seconds long), Chinese sample tallies, three reporting units
    (one reminded), summaries by email."""
    from campaigns.cli import build_app
    from campaigns.runtime.demo import run_demo

    cli = build_app()

    def import_sheet(campaign_id: str, sheet: Path, unit: str | None) -> None:
        by_unit = ["--unit", unit] if unit else []
        cli(["import", campaign_id, os.fspath(sheet), "--wait", *by_unit], standalone_mode=False)

    result = run_demo(data_dir, report=_progress("demo"), import_sheet=import_sheet)
    typer.echo("")
    typer.echo(result.summary_zh.rstrip("\n"))
    typer.echo("")
    typer.echo(f"emails ({len(result.emails)}: one per recipient per campaign, and the reminder):")
    for email in result.emails:
        typer.echo(f"  {email}")
    typer.echo(f"chart of {result.shown_id}: {result.chart}")
    typer.echo(f"the year's report (GB/T 9704 .docx, `campaigns report`): {result.year_report}")
    typer.echo(f"serve log: {result.serve_log}")
    typer.echo(f"demo finished in {result.seconds:.1f} s; data dir {result.data_dir}")


def _progress(command: str) -> Callable[[str], None]:
    """Progress lines on stderr, told apart from errors (`campaigns: …`) by the command."""

    def say(message: str) -> None:
        typer.echo(f"campaigns {command}: {message}", err=True)

    return say
