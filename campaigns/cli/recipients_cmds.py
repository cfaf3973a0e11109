"""`campaigns recipients add | list | remove`."""

from __future__ import annotations

from typing import Annotated

import typer

from campaigns.cli._common import actor, console, session, table

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)


@app.command()
def add(
    address: Annotated[str, typer.Argument(metavar="EMAIL", help="Email address, or robot URL.")],
    name: Annotated[str | None, typer.Option()] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's summaries.")] = None,
    channel: Annotated[
        str, typer.Option(help="email, wecom, dingtalk, feishu or webhook.")
    ] = "email",
    secret_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the robot's signing secret.")
    ] = None,
) -> None:
    """Add a recipient of summaries."""
    from campaigns.delivery.recipients import add_recipient, shown_address

    with session() as s:
        recipient = add_recipient(
            address,
            session=s,
            actor=actor(),
            name=name,
            campaign_id=campaign,
            channel=channel,
            secret_env=secret_env,
        )
        console().print(f"added {shown_address(recipient.channel, recipient.address)}")


@app.command("list")
def list_(campaign: Annotated[str | None, typer.Option()] = None) -> None:
    """List recipients."""
    from campaigns.delivery.recipients import list_recipients, shown_address

    with session() as s:
        recipients = list_recipients(session=s, campaign_id=campaign)
    grid = table("address", "name", "channel", "campaign")
    for r in recipients:
        grid.add_row(
            shown_address(r.channel, r.address), r.name or "", r.channel, r.campaign_id or "(all)"
        )
    console().print(grid)


@app.command()
def remove(address: Annotated[str, typer.Argument(metavar="EMAIL")]) -> None:
    """Stop sending to a recipient (past deliveries keep their record)."""
    from campaigns.delivery.recipients import remove_recipient

    with session() as s:
        count = remove_recipient(address, session=s, actor=actor())
    console().print(f"removed {count} recipient entr{'y' if count == 1 else 'ies'}")
