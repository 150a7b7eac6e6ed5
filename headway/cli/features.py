"""``headway features apply|list``: the project's feature definitions in the control plane."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console
from headway.project import Project

__all__ = ["features_app"]

features_app = typer.Typer(
    help="Feature definitions (features.yaml): check and register them, list them.",
    no_args_is_help=True,
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@features_app.command("apply")
def apply(
    project: ProjectOption = Path("."),
    by: Annotated[str | None, typer.Option("--by", help="Who applies (default: OS user).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check features.yaml (and every view's source columns) and register it; nothing is
    registered when a check fails."""
    from headway.controlplane.features import FeatureRegistry
    from headway.features.definitions import load_definitions
    from headway.features.pit import check_sources

    loaded = Project.load(project)
    path = loaded.root / loaded.config.features.definitions
    definitions = load_definitions(path)
    check_sources(definitions, root=loaded.root)
    items: list[tuple[str, dict[str, Any]]] = [
        *(("entity", e.model_dump(mode="json")) for e in definitions.entities),
        *(("feature_view", v.model_dump(mode="json")) for v in definitions.feature_views),
        *(("service", s.model_dump(mode="json")) for s in definitions.services),
    ]
    with FeatureRegistry.for_project(loaded) as registry:
        result = registry.apply(items, actor=by)
    doc = {"definitions_hash": definitions.content_hash(), **result.as_dict()}
    if as_json:
        console.print_json(json.dumps(doc))
        return
    console.print(
        f"applied {path.name} ({doc['definitions_hash']}): {len(result.added)} added, "
        f"{len(result.changed)} changed, {len(result.removed)} removed, "
        f"{len(result.unchanged)} unchanged"
    )


def _users(loaded: Project) -> dict[str, list[str]]:
    """Feature service -> the model versions trained on it (``NAME/VERSION``)."""
    from headway.registry import ModelRegistry, layout

    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    name = loaded.config.model_name
    used: dict[str, list[str]] = {}
    try:
        versions = registry.client.search_model_versions(f"name = '{name}'")
    except Exception:  # no registry yet: nothing uses anything
        return used
    for mv in versions:
        service = (mv.tags or {}).get(layout.FEATURE_SERVICE.name)
        if service:
            used.setdefault(service, []).append(f"{name}/{mv.version}")
    return {k: sorted(v, key=lambda r: int(r.rsplit("/", 1)[1])) for k, v in used.items()}


@features_app.command("list")
def list_(
    project: ProjectOption = Path("."),
    as_json: JsonFlag = False,
) -> None:
    """The registered entities, feature views and services, with owner, description and
    the model versions that use each."""
    from headway.controlplane.features import FeatureRegistry

    loaded = Project.load(project)
    with FeatureRegistry.for_project(loaded) as registry:
        items = registry.items()
    services = _users(loaded)
    views_of = {
        i.name: [ref.partition(":")[0] for ref in i.definition.get("features", [])]
        for i in items
        if i.kind == "service"
    }
    rows = []
    for item in items:
        if item.kind == "service":
            users = services.get(item.name, [])
        elif item.kind == "feature_view":
            users = sorted({u for s, vs in views_of.items() if item.name in vs
                            for u in services.get(s, [])})  # fmt: skip
        else:
            users = []
        rows.append({**item.as_dict(), "used_by": users})
    if as_json:
        console.print_json(json.dumps({"items": rows}))
        return
    table = Table(title="feature definitions")
    for column in ("kind", "name", "owner", "description", "hash", "used by"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["kind"], row["name"], row["owner"], row["description"], row["content_hash"],
            ", ".join(row["used_by"]) or "-",
        )  # fmt: skip
    console.print(table)
