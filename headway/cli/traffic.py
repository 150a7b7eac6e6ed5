"""``headway traffic show|set``: the deployment record of a served model.

The champion stays the MLflow ``champion`` alias; the record names the candidate version
that shares its traffic, and how (``single``, ``shadow``, ``canary``, ``ab``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from headway.cli._common import ProjectOption, console, parse_version
from headway.controlplane import default_actor
from headway.exceptions import ConfigError, ModelNotFoundError
from headway.project import Project
from headway.registry import CHAMPION

if TYPE_CHECKING:
    from headway.controlplane import Deployment
    from headway.registry import ModelRegistry

__all__ = ["show", "traffic_app", "traffic_set"]

traffic_app = typer.Typer(
    help="Traffic between the champion and a candidate version: shadow, canary, A/B.",
    no_args_is_help=True,
)

_MODES_HELP = "single (champion only), shadow, canary or ab"
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", help="Registered model name (default: the project's model)."),
]


def _model_name(loaded: Project, model: str | None) -> str:
    return model or loaded.config.model_name


def _version_state(registry: ModelRegistry, name: str, version: str) -> dict[str, Any]:
    from headway.registry.governance import approval_of

    try:
        info = registry.get_version(name, version)
    except ModelNotFoundError:
        return {"version": version, "registered": False, "blessed": None, "approval": None}
    return {
        "version": version,
        "registered": True,
        "blessed": info.blessed,
        "approval": approval_of(info),
        "aliases": list(info.aliases),
    }


def _describe(record: Deployment) -> str:
    if record.mode == "single" or record.candidate is None:
        return "champion only"
    target = f"{record.model}/{record.candidate}"
    if record.mode == "shadow":
        return f"shadow: {target} scores every request, the champion answers"
    share = f"{record.weight:.4g} of requests"
    if record.mode == "ab":
        return f"ab: {target} answers {share}, sticky by {record.entity_column}"
    return f"canary: {target} answers {share}, at random"


@traffic_app.command("show")
def show(
    project: ProjectOption = Path("."),
    model: ModelOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show the deployment record: mode, candidate, share, revision, who and why.

    Also the champion (the alias) and the candidate's blessing and approval."""
    from headway.controlplane.deployments import DeploymentStore, default_deployment
    from headway.registry import ModelRegistry

    loaded = Project.load(project)
    name = _model_name(loaded, model)
    if loaded.uses_embedded_control_plane and not loaded.control_db_path.exists():
        record = default_deployment(name)  # never run: do not create an empty store
    else:
        with DeploymentStore.for_project(loaded) as store:
            record = store.get(name)
    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    champion = registry.version_by_alias(name, CHAMPION)
    candidate = (
        _version_state(registry, name, record.candidate) if record.candidate is not None else None
    )
    if as_json:
        doc = {
            "model": name,
            "champion": champion.version if champion is not None else None,
            "deployment": record.as_dict(),
            "candidate": candidate,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(f"[bold]{name}[/bold] — {_describe(record)}", highlight=False)
    console.print(
        f"  champion   {'v' + champion.version if champion is not None else '(none)'}",
        highlight=False,
    )
    if candidate is not None:
        state = (
            "not registered"
            if not candidate["registered"]
            else f"{'blessed' if candidate['blessed'] else 'not blessed'}, "
            f"approval {candidate['approval'] or 'not asked'}"
        )
        console.print(f"  candidate  v{candidate['version']} ({state})", highlight=False)
    if record.revision == 0:
        console.print("  revision   0 (never set)", highlight=False)
        return
    when = record.updated_at.strftime("%Y-%m-%d %H:%M:%S") if record.updated_at else "-"
    console.print(
        f"  revision   {record.revision}, {when} UTC by {record.actor} (OS user {record.os_actor})",
        highlight=False,
    )
    if record.reason:
        console.print(f"  reason     {record.reason}", highlight=False)


@traffic_app.command("set")
def traffic_set(
    mode: Annotated[str, typer.Option("--mode", help=f"How traffic is split: {_MODES_HELP}.")],
    project: ProjectOption = Path("."),
    candidate: Annotated[
        str | None,
        typer.Option(
            "--candidate", help="NAME/VERSION sharing the traffic, e.g. churn/4 (not for single)."
        ),
    ] = None,
    weight: Annotated[
        float | None,
        typer.Option(
            "--weight",
            help="The candidate's share: 0 < W <= 1 for canary, 0 < W < 1 for ab; "
            "0 (the default) for single and shadow.",
        ),
    ] = None,
    entity_column: Annotated[
        str | None,
        typer.Option(
            "--entity-column",
            help="ab only: the column that keeps an entity on one version, e.g. customer_id.",
        ),
    ] = None,
    model: ModelOption = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who decides (default: the OS user).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit log).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the candidate and how it shares traffic; --mode single clears it.

    Live traffic (canary, ab) goes only to a blessed version, approved under promotion:
    manual; shadow takes any registered version. Recorded in the audit log as 'traffic'."""
    from headway.controlplane import AuditLog, DeploymentStore
    from headway.controlplane.deployments import MODES
    from headway.registry import ModelRegistry
    from headway.registry.governance import Governor

    if mode not in MODES:
        raise ConfigError(f"unknown --mode {mode!r}; choose one of {', '.join(MODES)}")
    loaded = Project.load(project)
    version: str | None = None
    name = _model_name(loaded, model)
    if candidate is not None:
        name, version = parse_version(candidate)
        if model is not None and model != name:
            raise ConfigError(f"--candidate {candidate} is not a version of --model {model}")
    if weight is None:
        if mode in ("canary", "ab"):
            bounds = "0 < W <= 1" if mode == "canary" else "0 < W < 1"
            raise ConfigError(f"--mode {mode} needs --weight W ({bounds})")
        weight = 0.0
    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    with AuditLog.for_project(loaded) as audit, DeploymentStore.for_project(loaded) as store:
        governor = Governor(registry, audit, name, promotion=loaded.config.governance.promotion)
        try:
            record = governor.set_traffic(
                store,
                candidate=version,
                mode=mode,
                weight=weight,
                entity_column=entity_column,
                actor=by or default_actor(),
                reason=(reason or "").strip(),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(record.as_dict(), indent=2))
        return
    console.print(
        f"[green]✓[/] {name}: {_describe(record)} (revision {record.revision})", highlight=False
    )
