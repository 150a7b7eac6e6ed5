"""Shared pieces of the CLI: consoles, the project option, progress rendering."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

if TYPE_CHECKING:
    from headway.training import TrialRecord

console = Console()
err_console = Console(stderr=True)

ProjectOption = Annotated[
    Path,
    typer.Option("--project", "-p", help="Project directory (holds headway.yaml)."),
]


def parse_version(text: str) -> tuple[str, str]:
    """``NAME/VERSION`` -> (name, version).

    Raises:
        ModelNotFoundError: not of that form.
    """
    name, _, version = text.partition("/")
    if not name or not version.isdigit():
        from headway.exceptions import ModelNotFoundError

        raise ModelNotFoundError(f"{text!r}: give NAME/VERSION, e.g. churn/3")
    return name, version


class RichObserver:
    """Renders pipeline events: a spinner per stage, a bar for the trials, a line per stage."""

    def __init__(self, out: Console) -> None:
        self.console = out
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        self._task: TaskID | None = None
        self._trials_done = 0

    def __enter__(self) -> RichObserver:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def stage_started(self, stage: str) -> None:
        self._task = self.progress.add_task(stage, total=None, note="")
        self._trials_done = 0

    def stage_finished(self, stage: str, summary: str) -> None:
        if self._task is not None:
            self.progress.remove_task(self._task)
            self._task = None
        self.console.print(f"[green]✓[/green] [bold]{stage:<9}[/bold] {summary}")

    def trial_finished(self, record: TrialRecord) -> None:
        if self._task is None:
            return
        self._trials_done += 1
        outcome = (
            f"failed ({record.error})"
            if record.value is None
            else f"{record.value:.4f}" + (" (pruned)" if record.state == "pruned" else "")
        )
        self.progress.update(
            self._task,
            completed=self._trials_done,
            total=record.n_trials,
            note=f"trial {record.number} {record.family}: {outcome}"[:120],
        )
