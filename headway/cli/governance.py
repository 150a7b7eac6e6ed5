"""``headway audit``: the decisions recorded for a project's models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from headway.automation import AUDIT_ACTIONS, AuditLog
from headway.cli._common import ProjectOption, console
from headway.exceptions import ConfigError
from headway.project import Project

__all__ = ["audit"]


def audit(
    project: ProjectOption = Path("."),
    model: Annotated[str | None, typer.Option(help="Only this registered model.")] = None,
    version: Annotated[str | None, typer.Option(help="Only this version.")] = None,
    action: Annotated[
        str | None, typer.Option(help=f"Only this action: {', '.join(AUDIT_ACTIONS)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="The most recent N events.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Every decision on the project's models, oldest first: registered, blessed or not,
    promoted, and why."""
    loaded = Project.load(project)
    if action is not None and action not in AUDIT_ACTIONS:
        raise ConfigError(f"unknown --action {action!r}; choose one of {', '.join(AUDIT_ACTIONS)}")
    embedded = loaded.settings.control_db_url is None and loaded.config.control_plane.url is None
    if embedded and not (loaded.state_dir / "control.db").exists():
        events = []  # never run: do not create an empty store just to look into it
    else:
        with AuditLog.for_project(loaded) as log:
            events = log.events(model=model, version=version, action=action, limit=limit)
    if as_json:
        typer.echo(json.dumps([e.as_dict() for e in events], indent=2))
        return
    if not events:
        console.print(f"No decisions recorded yet. Run: headway run --project {project}")
        return
    table = Table(title=f"{loaded.config.name}: audit log", title_justify="left")
    for column in ("time (UTC)", "action", "model", "version", "actor", "reason"):
        table.add_column(column)
    for event in events:
        table.add_row(
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            event.action,
            event.model,
            event.version or "-",
            event.actor,
            event.reason or "-",
        )
    console.print(table)
