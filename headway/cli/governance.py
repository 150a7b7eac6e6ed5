"""Governance commands: gate, approve, reject, promote, rollback, archive, audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from headway.artifacts import to_dict
from headway.cli._common import ProjectOption, console, parse_version
from headway.controlplane import AUDIT_ACTIONS, default_actor
from headway.exceptions import ConfigError
from headway.project import Project
from headway.registry import CHAMPION

if TYPE_CHECKING:
    from headway.controlplane import AuditLog
    from headway.registry.governance import Governor

__all__ = ["approve", "archive", "audit", "card", "gate", "promote", "reject", "rollback"]

VersionArgument = Annotated[str, typer.Argument(help="NAME/VERSION, e.g. churn/3.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: the OS user).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the audit log).")]


def _decide(
    action: str, model: str, reason: str | None, by: str | None, project: Path, done: str
) -> None:
    """Run ``Governor.<action>`` (approve, reject, archive) on NAME/VERSION."""
    name, version = parse_version(model)
    governor, audit_log = _governor(project, name)
    with audit_log:
        getattr(governor, action)(
            version, actor=by or default_actor(), reason=_reason(reason, action)
        )
    console.print(f"[green]✓[/] {name}/{version} {done}")


def _reason(reason: str | None, action: str) -> str:
    if reason is None or not reason.strip():
        raise ConfigError(f"{action} needs --reason TEXT: the audit log keeps why")
    return reason.strip()


def _governor(project: Path, name: str) -> tuple[Governor, AuditLog]:
    from headway.controlplane import AuditLog
    from headway.registry import ModelRegistry
    from headway.registry.governance import Governor

    loaded = Project.load(project)
    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    audit_log = AuditLog.for_project(loaded)
    governor = Governor(registry, audit_log, name, promotion=loaded.config.governance.promotion)
    return governor, audit_log


def gate(
    candidate: Annotated[
        str, typer.Option("--candidate", help="NAME/VERSION to re-evaluate, e.g. churn/3.")
    ],
    project: ProjectOption = Path("."),
    as_json: JsonFlag = False,
) -> None:
    """Re-evaluate a registered version on the project's current data and gate it against
    the champion; exit 1 when it is not blessed. Aliases do not move."""
    from headway.pipeline import gate_version

    name, version = parse_version(candidate)
    loaded = Project.load(project)
    with console.status(f"Evaluating {candidate} on the current data..."):
        evaluation, blessing = gate_version(loaded, name, version)
    if as_json:
        doc = {"evaluation": to_dict(evaluation), "blessing": to_dict(blessing)}
        typer.echo(json.dumps(doc, indent=2, default=str))
    else:
        verdict = "[green]blessed[/]" if blessing.blessed else "[yellow]not blessed[/]"
        console.print(f"{candidate}: {verdict}")
        for check in blessing.checks:
            mark = "[green]✓[/]" if check["passed"] else "[red]✗[/]"
            console.print(f"  {mark} {check['detail']}")
    if not blessing.blessed:
        raise typer.Exit(1)


def approve(
    model: VersionArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Approve a blessed version waiting as challenger; it becomes champion. When the
    champion changed since the version was gated, it is re-gated against today's champion
    first and approved only if still blessed."""
    from headway.pipeline import approve_version

    name, version = parse_version(model)
    loaded = Project.load(project)
    with console.status(f"Checking {name}/{version} against today's champion..."):
        approve_version(
            loaded, name, version, actor=by or default_actor(), reason=_reason(reason, "approve")
        )
    console.print(f"[green]✓[/] {name}/{version} approved -> @{CHAMPION}")


def reject(
    model: VersionArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Reject a version: it loses @challenger and cannot be approved later."""
    _decide("reject", model, reason, by, project, "rejected")


def promote(
    model: VersionArgument,
    reason: Annotated[str | None, typer.Option(help="Why (required with --force).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote a version the gates did not bless.")
    ] = False,
    by: ByOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Make a version the champion (an unblessed one only with --force --reason)."""
    name, version = parse_version(model)
    governor, audit_log = _governor(project, name)
    with audit_log:
        governor.promote(
            version, actor=by or default_actor(), reason=(reason or "").strip(), force=force
        )
    console.print(f"[green]✓[/] {name}/{version} -> @{CHAMPION}" + (" (forced)" if force else ""))


def rollback(
    name: Annotated[str, typer.Argument(help="Registered model name, e.g. churn.")],
    reason: ReasonOption = None,
    by: ByOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Move @champion back to the version the current champion replaced."""
    governor, audit_log = _governor(project, name)
    with audit_log:
        old, new = governor.rollback(
            actor=by or default_actor(), reason=_reason(reason, "rollback")
        )
    console.print(f"[green]✓[/] {name}@{CHAMPION}: v{old} -> v{new}")


def archive(
    model: VersionArgument,
    reason: ReasonOption = None,
    by: ByOption = None,
    project: ProjectOption = Path("."),
) -> None:
    """Retire a version that is not the champion: it loses its aliases for good."""
    _decide("archive", model, reason, by, project, "archived")


def card(
    model: VersionArgument,
    project: ProjectOption = Path("."),
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the HTML card to this file.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Write the Markdown here, not stdout.")
    ] = None,
) -> None:
    """The model card of a version as it stands now: intended use, data, training,
    evaluation with intervals and slices, fairness, top features, gates, approvals,
    limitations and lineage."""
    from headway.controlplane import AuditLog
    from headway.registry import ModelRegistry
    from headway.registry.cards import model_card

    name, version = parse_version(model)
    loaded = Project.load(project)
    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    with AuditLog.for_project(loaded) as log:
        text, page = model_card(registry, log, name, version)
    if html is not None:
        html.write_text(page, encoding="utf-8")
        console.print(f"[green]✓[/] wrote {html}", highlight=False)
    if markdown is not None:
        markdown.write_text(text, encoding="utf-8")
        console.print(f"[green]✓[/] wrote {markdown}", highlight=False)
    elif html is None:
        typer.echo(text)


def audit(
    project: ProjectOption = Path("."),
    model: Annotated[str | None, typer.Option(help="Only this registered model.")] = None,
    version: Annotated[str | None, typer.Option(help="Only this version.")] = None,
    action: Annotated[
        str | None, typer.Option(help=f"Only this action: {', '.join(AUDIT_ACTIONS)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="The most recent N events.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Every decision on the project's models, oldest first: registered, blessed or not,
    approved, rejected, promoted, rolled back, archived, forced, and why."""
    loaded = Project.load(project)
    if action is not None and action not in AUDIT_ACTIONS:
        raise ConfigError(f"unknown --action {action!r}; choose one of {', '.join(AUDIT_ACTIONS)}")
    if loaded.uses_embedded_control_plane and not loaded.control_db_path.exists():
        events = []  # never run: do not create an empty store just to look into it
    else:
        from headway.controlplane import AuditLog

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
