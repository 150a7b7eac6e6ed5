"""Shared pieces of the CLI: consoles, the project option, progress rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
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


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time (UTC when it names no zone) or a span back from now (``30m``,
    ``2h``, ``7d``)."""
    if text is None:
        return None
    relative = _RELATIVE.match(text.strip())
    if relative:
        span = timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        return datetime.now(UTC) - span
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is not a time: give e.g. 2024-05-01, 2024-05-01T12:00:00+00:00, "
            "or a span back from now such as 30m, 2h, 7d",
            param_hint=option,
        ) from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


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
