"""`campaigns dead-letters [list] | replay ID`: messages the workers quarantined."""

from __future__ import annotations

from typing import Annotated

import typer

from campaigns.cli._common import actor, console, session, table

app = typer.Typer(rich_markup_mode=None, invoke_without_command=True)


@app.callback()
def overview(ctx: typer.Context) -> None:
    """Task messages that failed or crashed their worker too often (not counted until replayed)."""
    if ctx.invoked_subcommand is None:
        list_(include_replayed=False)


@app.command("list")
def list_(
    include_replayed: Annotated[bool, typer.Option("--all", help="Include replayed ones.")] = False,
) -> None:
    """List quarantined messages."""
    from campaigns.runtime.deadletters import list_dead_letters

    with session() as s:
        letters = list_dead_letters(session=s, include_replayed=include_replayed)
    grid = table("id", "task", "attempts", "quarantined", "replayed", "error")
    for letter in letters:
        grid.add_row(
            str(letter.id),
            letter.task_name,
            str(letter.attempts),
            f"{letter.created_at:%Y-%m-%d %H:%M}",
            f"{letter.replayed_at:%Y-%m-%d %H:%M}" if letter.replayed_at else "",
            letter.error.splitlines()[-1][:80] if letter.error else "",
        )
    console().print(grid)
    console().print(f"{len(letters)} quarantined message(s)")


@app.command()
def replay(dead_letter_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Send a quarantined message to the workers again (recorded in the event log)."""
    import json

    from campaigns.cli.publish import celery_app
    from campaigns.runtime.deadletters import take_for_replay

    with session() as s:
        letter = take_for_replay(dead_letter_id, session=s, actor=actor())
        name, args = letter.task_name, json.loads(letter.args)
    celery_app().send_task(name, args=args)
    console().print(f"dead letter {dead_letter_id} sent to the workers again")
