"""The progress bar `import` shows on stderr while a file is read and its chunks are stored."""

from __future__ import annotations

from typing import Any


class Progress:
    """A Rich progress bar on stderr that vanishes when done (and shows only on a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    def __enter__(self) -> Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, description: str, total: int | None) -> int:
        return (
            0 if self._progress is None else int(self._progress.add_task(description, total=total))
        )

    def update(self, task: int, completed: int) -> None:
        if self._progress is not None:
            self._progress.update(task, completed=completed)

    def advance(self, task: int, amount: int) -> None:
        if self._progress is not None:
            self._progress.advance(task, amount)
