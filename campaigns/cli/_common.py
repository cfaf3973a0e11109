"""What every command shares: settings, sessions and console output, all imported lazily."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from sqlmodel import Session

    from campaigns.settings import Settings

_console: list[Console] = []


def console() -> Console:
    if not _console:
        from rich.console import Console

        # Piped output (scripts, logs) is not cut to 80 columns.
        _console.append(Console(highlight=False, width=None if sys.stdout.isatty() else 200))
    return _console[0]


def table(*headers: str) -> Table:
    from rich.table import Table

    return Table(*headers)


def settings() -> Settings:
    from campaigns.settings import get_settings

    return get_settings()


@contextmanager
def session() -> Iterator[Session]:
    from campaigns.db import session_scope

    with session_scope() as s:
        yield s


def actor() -> str:
    from campaigns.audit import current_actor

    return current_actor()
