"""Commands that run the background: worker, beat."""

from __future__ import annotations

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
