"""``headway validate``, ``headway data versions|show`` and ``headway lineage``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from headway.artifacts import ValidationReport, to_dict
from headway.cli._common import ProjectOption, console
from headway.exceptions import DataError, ModelNotFoundError
from headway.project import Project
from headway.redact import redact_uri
from headway.registry import layout

data_app = typer.Typer(help="Dataset versions: list and inspect them.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _checks_table(report: ValidationReport) -> Table:
    table = Table(title="checks", title_justify="left")
    for column in ("", "check", "column", "message"):
        table.add_column(column, overflow="fold")
    order = report.ordered()
    for check in order:
        mark = (
            "[green]✓[/]"
            if check.passed
            else ("[red]✗[/]" if check.severity == "error" else "[yellow]![/]")
        )
        table.add_row(mark, check.name, check.column or "", check.message)
    return table


def validate(project: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """Run the data stage alone: read, check against schema.yaml, version; write a report."""
    from headway.data import DatasetStore, ingest_and_validate
    from headway.reports import render_validation_html

    loaded = Project.load(project)
    cfg = loaded.config
    with console.status("Reading and validating the data..."):
        dataset = ingest_and_validate(
            cfg.data,
            task=cfg.task,
            root=loaded.root,
            store=DatasetStore(loaded.datasets_dir),
            strict=False,
        )
    report, version = dataset.report, dataset.version
    reports = loaded.state_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    stem = reports / f"validation-{version.short_hash}"
    stem.with_suffix(".json").write_text(json.dumps(to_dict(report), indent=2, default=str))
    html = render_validation_html(
        report, dataset.frame, dataset.schema, title=f"{cfg.name}: data", version=version
    )
    stem.with_suffix(".html").write_text(html, encoding="utf-8")
    if as_json:
        typer.echo(
            json.dumps(
                {"passed": report.passed, "version": to_dict(version), "report": to_dict(report)},
                indent=2,
                default=str,
            )
        )
    else:
        state = "reused (unchanged)" if dataset.reused else f"{version.n_rows:,} rows"
        name = loaded.schema_path.name
        console.print(f"dataset version [bold]{version.short_hash}[/] ({state}), schema {name}")
        if dataset.schema_written:
            console.print(f"inferred the schema and wrote {loaded.schema_path}: review it")
        console.print(_checks_table(report))
        console.print(f"report: {stem.with_suffix('.html')}")
    if not report.passed:
        raise typer.Exit(1)


@data_app.command("versions")
def versions(project: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """List the dataset versions of the project, newest first."""
    from headway.data import DatasetStore

    loaded = Project.load(project)
    found = DatasetStore(loaded.datasets_dir).versions()
    if as_json:
        typer.echo(json.dumps([to_dict(v) for v in found], indent=2))
        return
    if not found:
        console.print(f"No dataset versions yet. Run: headway validate --project {project}")
        return
    table = Table(title=f"{loaded.config.name}: dataset versions", title_justify="left")
    for column in ("version", "rows", "columns", "format", "schema", "created", "source"):
        table.add_column(column)
    for v in found:
        table.add_row(
            v.short_hash,
            f"{v.n_rows:,}",
            str(len(v.columns)),
            v.format,
            v.schema_hash[:8],
            v.created_at,
            v.source_uri,
        )
    console.print(table)


@data_app.command("show")
def show(
    version: Annotated[
        str, typer.Argument(help="Version hash or a unique prefix (6+ characters).")
    ],
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Show one dataset version: its record, columns and validation outcome."""
    from headway.data import DatasetStore

    loaded = Project.load(project)
    store = DatasetStore(loaded.datasets_dir)
    found = store.get(version)
    report, _ = store.report(found)
    if as_json:
        typer.echo(
            json.dumps(
                {"version": to_dict(found), "report": to_dict(report)}, indent=2, default=str
            )
        )
        return
    console.print(f"[bold]dataset version {found.content_hash}[/]")
    for key in ("source_uri", "format", "n_rows", "schema_hash", "created_at", "snapshot_uri"):
        console.print(f"  {key:<12} {getattr(found, key)}")
    columns = Table(title="columns", title_justify="left")
    columns.add_column("column")
    columns.add_column("dtype")
    for name in found.columns:
        columns.add_row(name, found.dtypes.get(name, ""))
    console.print(columns)
    console.print(_checks_table(report))


def lineage(
    model: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION, e.g. churn@champion.")],
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """The chain data -> run -> model version -> aliases of a registered model."""
    from mlflow.exceptions import MlflowException

    from headway.data import DatasetStore
    from headway.registry import ModelRegistry

    loaded = Project.load(project)
    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    if "@" in model:
        name, alias = model.split("@", 1)
        info = registry.version_by_alias(name, alias)
        if info is None:
            raise ModelNotFoundError(
                f"no model version at {model} in {redact_uri(loaded.tracking_uri)}"
            )
    elif "/" in model:
        name, number = model.split("/", 1)
        info = registry.get_version(name, number)
    else:
        raise ModelNotFoundError(f"{model!r}: give NAME@ALIAS or NAME/VERSION, e.g. churn@champion")
    tags = info.tags
    try:
        run = registry.client.get_run(info.run_id)
        run_doc: dict[str, Any] = {
            "run_id": info.run_id,
            "name": run.info.run_name,
            "status": run.info.status,
            "start_time_ms": run.info.start_time,
            "experiment_id": run.info.experiment_id,
            "test_metrics": {k: v for k, v in run.data.metrics.items() if k.startswith("test_")},
        }
    except MlflowException:
        run_doc = {"run_id": info.run_id, "status": "not found"}
    dataset_doc: dict[str, Any] = {
        "hash": tags.get(layout.DATASET_HASH.name),
        "schema_hash": tags.get(layout.SCHEMA_HASH.name),
        "source_uri": tags.get(layout.SOURCE_URI.name),
        "snapshot_uri": tags.get(layout.SNAPSHOT_URI.name),
    }
    if tags.get(layout.SNAPSHOT_RUN.name):
        dataset_doc["snapshot_run"] = tags[layout.SNAPSHOT_RUN.name]
    if dataset_doc["hash"]:
        try:
            stored = DatasetStore(loaded.datasets_dir).get(
                dataset_doc["hash"], schema_hash=dataset_doc["schema_hash"]
            )
            dataset_doc.update(n_rows=stored.n_rows, created_at=stored.created_at)
            dataset_doc["snapshot"] = "in this project's dataset store"
        except DataError:
            # Another machine trained it: the run's record of the version says the rest.
            recorded = _recorded_version(registry, info.run_id)
            dataset_doc.update(recorded)
            dataset_doc["snapshot"] = (
                f"in the tracking server's artifact store (run {dataset_doc['snapshot_run']})"
                if "snapshot_run" in dataset_doc
                else "not in this project's dataset store"
            )
    doc = {
        "dataset": dataset_doc,
        "run": run_doc,
        "model_version": {
            "name": info.name,
            "version": info.version,
            "blessed": info.blessed,
            "source": info.source,
        },
        "aliases": list(info.aliases),
        "code": {
            "config_hash": tags.get(layout.CONFIG_HASH.name),
            "git_commit": tags.get(layout.GIT_COMMIT.name),
            "git_dirty": tags.get(layout.GIT_DIRTY.name),
        },
        "packages": json.loads(tags.get(layout.PACKAGES.name, "{}")),
    }
    if as_json:
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    tree = Tree(f"[bold]lineage of {model}[/]")
    short = (dataset_doc["hash"] or "?")[:12]
    data_node = tree.add(
        f"dataset [bold]{short}[/] {dataset_doc.get('n_rows', '?')} rows "
        f"from {dataset_doc['source_uri']}"
    )
    data_node.add(
        f"schema {dataset_doc['schema_hash']}; snapshot {dataset_doc['snapshot_uri']} "
        f"({dataset_doc.get('snapshot', 'no dataset hash')})"
    )
    run_node = data_node.add(
        f"run [bold]{run_doc['run_id']}[/] ({run_doc.get('status')}) "
        + ", ".join(f"{k} {v:.4f}" for k, v in run_doc.get("test_metrics", {}).items())
    )
    run_node.add(
        f"config {doc['code']['config_hash']}, git {doc['code']['git_commit'] or 'n/a'}"
        + (" (dirty)" if doc["code"]["git_dirty"] == "true" else "")
    )
    verdict = "blessed" if info.blessed else "not blessed"
    version_node = run_node.add(f"model version [bold]{info.name} v{info.version}[/] ({verdict})")
    version_node.add("aliases: " + (", ".join(f"@{a}" for a in info.aliases) or "none"))
    console.print(tree)


def _recorded_version(registry: Any, run_id: str) -> dict[str, Any]:
    """Rows and creation time of the dataset version, as the run recorded them."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_run_artifact(run_id, layout.DATASET_VERSION.path, tmp)
        if path is None:
            return {}
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return {key: doc[key] for key in ("n_rows", "created_at") if key in doc}


def reproduce_command(
    model: Annotated[str, typer.Argument(help="NAME/VERSION, e.g. churn/3.")],
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Retrain a registered version from its lineage; exit 1 unless predictions match."""
    from headway.pipeline import reproduce

    loaded = Project.load(project)
    if "/" not in model:
        raise ModelNotFoundError(f"{model!r}: give NAME/VERSION, e.g. churn/3")
    name, number = model.split("/", 1)
    with console.status(f"Retraining {model} from its lineage..."):
        report = reproduce(loaded, name, number)
    if as_json:
        typer.echo(json.dumps({**to_dict(report), "matches": report.matches}, indent=2))
    else:
        verdict = "[green]reproduced[/]" if report.matches else "[red]NOT reproduced[/]"
        console.print(
            f"{model}: {verdict} — {report.n_trials} trials on dataset "
            f"{report.dataset_hash[:12]}, family {report.family} -> {report.reproduced_family}, "
            f"max |difference| of predictions on {report.n_rows:,} test rows: "
            f"{report.max_abs_diff:.3g}" + (" (bit-identical)" if report.identical else "")
        )
    if not report.matches:
        raise typer.Exit(1)
