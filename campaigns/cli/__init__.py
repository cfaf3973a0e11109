"""The `campaigns` command: one Typer app per command group, joined here.

An edge: each command turns its arguments into calls of the wings below and prints what
they return. Start-up stays light: `--help` imports neither Celery nor SQLAlchemy, and no
database is opened until a command needs one.

- `planning_cmds` — init, calendar, create, list, show, close, reopen, cancel.
- `tally_cmds` — log, correct, import.
- `units_cmds` — units import, list, add, remove: the reporting units' tree.
- `reporting_cmds` — participants, submit, progress: who takes part and who has reported.
- `summary_cmds` — summary, summaries, digest.
- `report_cmds` — report: the year's publicity section (GB/T 9704 .docx, PDF, text).
- `template_cmds` — template: a campaign's fill-in 统计表 (.xlsx) for the counties.
- `delivery_cmds`, `recipients_cmds` — deliveries, resend; recipients.
- `run_cmds` — worker, beat, serve, demo.
- `deadletter_cmds` — dead-letters.
- `publish` — handing work to the broker after commit, and waiting for it.
- `progress` — the progress bar `import` shows on stderr.
- `_common` — the console, settings, sessions and tables the commands share.
"""

from __future__ import annotations

import sys

import typer

from campaigns.errors import CampaignsError


def build_app() -> typer.Typer:
    from campaigns.cli import (
        deadletter_cmds,
        delivery_cmds,
        planning_cmds,
        recipients_cmds,
        report_cmds,
        reporting_cmds,
        run_cmds,
        summary_cmds,
        tally_cmds,
        template_cmds,
        units_cmds,
    )

    app = typer.Typer(
        help="Plan public-awareness campaigns, record tallies, deliver outcome summaries.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    groups = (
        planning_cmds,
        tally_cmds,
        reporting_cmds,
        template_cmds,
        summary_cmds,
        report_cmds,
        delivery_cmds,
        run_cmds,
    )
    for group in groups:
        app.add_typer(group.app)
    app.add_typer(recipients_cmds.app, name="recipients", help="Who receives summaries.")
    app.add_typer(units_cmds.app, name="units", help="The reporting units (单位) and their tree.")
    app.add_typer(deadletter_cmds.app, name="dead-letters", help="Quarantined task messages.")
    return app


def fail(message: str, code: int = 1) -> None:
    print(f"campaigns: {message}", file=sys.stderr)
    sys.exit(code)


def main() -> None:
    try:
        build_app()(standalone_mode=False)
    except CampaignsError as exc:
        fail(str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        fail("interrupted", 130)
    except typer.TyperException as exc:
        # Usage errors (missing argument, unknown option): click's text, on one line.
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        fail(" ".join(message.split()), getattr(exc, "exit_code", 2))
    except Exception as exc:
        errors = getattr(exc, "errors", None)
        if type(exc).__name__ == "ValidationError" and callable(errors):
            # A bad CAMPAIGNS_* setting (pydantic-settings): name it, in one line.
            problems = [
                f"CAMPAIGNS_{'_'.join(map(str, e['loc'])).upper()}: "
                + str(e["msg"]).removeprefix("Value error, ")
                for e in errors()
            ]
            fail("bad setting: " + "; ".join(problems))
        if type(exc).__module__.split(".")[0] in ("sqlalchemy", "psycopg", "redis", "kombu"):
            # Unreachable services are the operator's problem, not a bug: say which.
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            fail(f"{type(exc).__name__}: {first_line}")
        raise
