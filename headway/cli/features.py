"""``headway features apply|list``: the project's feature definitions in the control plane."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console, parse_time
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
        *(("on_demand_feature", f.model_dump(mode="json")) for f in definitions.on_demand_features),
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


def _materialize(
    project: Path, views: list[str] | None, start: datetime | None, end: datetime | None,
    *, incremental: bool, as_json: bool,
) -> None:  # fmt: skip
    from headway.controlplane.features import FeatureRegistry
    from headway.features.definitions import load_definitions
    from headway.features.materialize import materialize as run
    from headway.features.online import open_online_store

    loaded = Project.load(project)
    definitions = load_definitions(loaded.root / loaded.config.features.definitions)
    names = views or [v.name for v in definitions.feature_views]
    until = end or datetime.now(UTC)
    written: dict[str, int] = {}
    windows: dict[str, list[str | None]] = {}
    with (
        FeatureRegistry.for_project(loaded) as registry,
        open_online_store(
            loaded.config.features.online_store, loaded.state_dir / "online.db"
        ) as store,
    ):
        for name in names:
            since = registry.materialized_until(name) if incremental else start
            if since is not None and since >= until:
                written[name] = 0
                windows[name] = [since.isoformat(), until.isoformat()]
                continue
            written.update(
                run(definitions, store, root=loaded.root, views=[name], start=since, end=until)
            )
            registry.record_materialization(name, start=since, end=until, rows=written[name])
            windows[name] = [since.isoformat() if since else None, until.isoformat()]
    doc = {"rows": written, "windows": windows}
    if as_json:
        console.print_json(json.dumps(doc))
        return
    for name, rows in written.items():
        since_text = windows[name][0] or "the beginning"
        console.print(f"{name}: {rows:,} entities from {since_text} to {windows[name][1]}")


ViewOption = Annotated[
    list[str] | None, typer.Option("--view", help="Only this view (repeat for more).")
]


@features_app.command("materialize")
def materialize(
    project: ProjectOption = Path("."),
    start: Annotated[str | None, typer.Option("--start", help="From (ISO time or 7d).")] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Until, exclusive (default now).")
    ] = None,
    view: ViewOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Write each view's latest value per entity in [start, end) to the online store."""
    _materialize(
        project, view, parse_time(start, "--start"), parse_time(end, "--end"),
        incremental=False, as_json=as_json,
    )  # fmt: skip


@features_app.command("materialize-incremental")
def materialize_incremental(
    project: ProjectOption = Path("."),
    end: Annotated[
        str | None, typer.Option("--end", help="Until, exclusive (default now).")
    ] = None,
    view: ViewOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Materialize what arrived since each view's last materialization."""
    _materialize(project, view, None, parse_time(end, "--end"), incremental=True, as_json=as_json)
