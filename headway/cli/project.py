"""``headway init``, ``headway run`` and ``headway status``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from headway.artifacts import PipelineResult
from headway.cli._common import ProjectOption, RichObserver, console
from headway.datasets import EXAMPLES, write_example
from headway.project import Project
from headway.redact import redact_uri


def init(
    directory: Annotated[Path, typer.Argument(help="Directory of the new project.")],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Your table: a CSV or Parquet file, folder or glob."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="The column to predict (with --data).")
    ] = None,
    task: Annotated[
        str, typer.Option(help="auto, binary, multiclass, regression or forecast (with --data).")
    ] = "auto",
    timestamp: Annotated[
        str, typer.Option(help="auto, a column (time-based split) or none (with --data).")
    ] = "auto",
    id_column: Annotated[
        str, typer.Option("--id", help="auto, a unique row-key column, or none (with --data).")
    ] = "auto",
    series: Annotated[
        str | None,
        typer.Option(help="--task forecast: the columns that name one series, COL,COL."),
    ] = None,
    sql: Annotated[
        str | None, typer.Option(help="A DuckDB query in place of --data (paths: project dir).")
    ] = None,
    database: Annotated[
        Path | None, typer.Option(help="The DuckDB database file --sql reads.")
    ] = None,
    example: Annotated[
        str | None,
        typer.Option(
            "--example", "-e", help=f"Example to start from: {', '.join(EXAMPLES)} (default churn)."
        ),
    ] = None,
    rows: Annotated[
        int | None, typer.Option(min=100, help="Rows of generated example data [default: 50000].")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the data generator [default: 0].")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Project and model name.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing headway.yaml.")] = False,
) -> None:
    """Create a project from your table (--data FILE --target COLUMN, or --sql QUERY) or from
    a bundled example (--example): headway.yaml, schema.yaml and a .gitignore."""
    from headway.exceptions import ConfigError

    own = data is not None or sql is not None
    if own and example is not None:
        raise ConfigError(
            "--example and --data/--sql exclude each other: start from your table or from an "
            "example, not both."
        )
    if own:
        if target is None:
            raise ConfigError("--data and --sql need --target COLUMN: the column to predict.")
        if rows is not None or seed is not None:
            raise ConfigError(
                "--rows and --seed size and seed the generated example data; with --data or "
                "--sql your table is used as it is: drop them."
            )
        _init_from_data(
            directory,
            data=data,
            target=target,
            task=task,
            timestamp=timestamp,
            id_column=id_column,
            series=series,
            sql=sql,
            database=database,
            name=name,
            force=force,
        )
        return
    if target is not None or series is not None or database is not None:
        raise ConfigError("--target, --series and --database apply with --data or --sql only.")
    example = example or "churn"
    rows = 50_000 if rows is None else rows
    seed = 0 if seed is None else seed
    with console.status(f"Generating {rows:,} rows of '{example}' data..."):
        path = write_example(example, directory, n_rows=rows, seed=seed, name=name, force=force)
    console.print(f"[green]✓[/green] wrote {path} and {directory}/{EXAMPLES[example].data_file}")
    console.print(f"  next: [bold]headway run --project {directory}[/bold]")


def _init_from_data(
    directory: Path,
    *,
    data: str | None,
    target: str,
    task: str,
    timestamp: str,
    id_column: str,
    series: str | None,
    sql: str | None,
    database: Path | None,
    name: str | None,
    force: bool,
) -> None:
    from headway.pipeline.init import plan_project, write_project

    columns = tuple(c.strip() for c in series.split(",") if c.strip()) if series else ()
    with console.status("Reading and profiling the table..."):
        plan = plan_project(
            directory,
            data=data,
            target=target,
            task=task,
            timestamp=timestamp,
            id_column=id_column,
            series=columns,
            sql=sql,
            database=database,
            name=name,
            force=force,
        )
        write_project(plan)
    profile = plan.profile
    rows = f"{profile.n_rows:,} rows" + (" (a sample)" if profile.sampled else "")
    table = Table(
        title=f"inferred from {rows} x {profile.n_columns} columns",
        title_justify="left",
    )
    for column in ("key", "value", "why"):
        table.add_column(column)
    table.add_row("task", str(profile.task.value), profile.task.reason)
    table.add_row("target", profile.target, "--target")
    table.add_row("id_column", str(profile.id_column.value or "-"), profile.id_column.reason)
    table.add_row(
        "timestamp_column",
        str(profile.timestamp_column.value or "-"),
        profile.timestamp_column.reason,
    )
    if profile.series_columns:
        table.add_row("series_columns", ", ".join(profile.series_columns), "--series")
    table.add_row("split", profile.split, "")
    for exclusion in profile.exclusions:
        table.add_row("excluded", exclusion.column, exclusion.reason)
    console.print(table)
    wrote = ["headway.yaml"]
    if plan.whole:
        wrote.append("schema.yaml")
    if plan.data_file is not None:
        wrote.append(str(plan.data_file.relative_to(plan.root)))
    console.print(f"[green]✓[/green] wrote {', '.join(wrote)} and .gitignore in {directory}")
    if not plan.whole:
        console.print("  schema.yaml: inferred by the first run, from the whole table")
    console.print(f"  next: [bold]headway run --project {directory}[/bold]")


def print_result(result: PipelineResult) -> None:
    """The closing summary of a pipeline run."""
    verdict = (
        "[green]blessed[/green]" if result.blessing.blessed else "[yellow]not blessed[/yellow]"
    )
    alias = "".join(f" -> @{a}" for a in result.version.aliases)
    console.print(
        f"\n[bold]{result.version.name} v{result.version.version}[/bold]{alias} ({verdict}) "
        f"in {result.duration_seconds:.1f}s; run {result.run_id}"
    )
    for reason in result.blessing.reasons:
        console.print(f"  - {reason}")


def run(project: ProjectOption = Path(".")) -> None:
    """Run the pipeline: ingest -> validate -> train -> evaluate -> gate -> register -> promote."""
    from headway.pipeline import run_pipeline

    loaded = Project.load(project)
    console.print(
        f"[bold]headway run[/bold] {loaded.config.name} ({redact_uri(loaded.tracking_uri)})"
    )
    with RichObserver(console) as observer:
        result = run_pipeline(loaded, observer=observer)
    print_result(result)


def status(
    project: ProjectOption = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Registered models, their versions, aliases and key metrics."""
    from headway.registry import ModelRegistry

    loaded = Project.load(project)
    if loaded.uses_embedded_store and not loaded.tracking_db_path.exists():
        models = []  # never run: do not create an empty store just to look into it
    else:
        models = ModelRegistry(loaded.tracking_uri, loaded.registry_uri).models()
    reports = _reports(loaded)
    if as_json:
        doc = {
            "project": loaded.config.name,
            "tracking_uri": redact_uri(loaded.tracking_uri),
            "primary_metric": loaded.config.metric,
            "models": [m.as_dict() for m in models],
            "reports": reports,
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(
        f"[bold]{loaded.config.name}[/bold] — tracking store {redact_uri(loaded.tracking_uri)}"
    )
    if not models:
        console.print(f"No registered models yet. Run: headway run --project {project}")
        return
    metric = loaded.config.metric
    for model in models:
        table = Table(title=f"model {model.name}", title_justify="left")
        for column in ("version", "aliases", "blessed", f"test {metric}", "dataset", "created"):
            table.add_column(column)
        for v in model.versions:
            value = v.metrics.get(metric)
            table.add_row(
                v.version,
                ", ".join(f"@{a}" for a in v.aliases) or "-",
                "yes" if v.blessed else "no",
                f"{value:.4f}" if value is not None else "-",
                (v.dataset_hash or "-")[:12],
                _ms_to_iso(v.created_at_ms),
            )
        console.print(table)
    latest = reports["monitoring"]["latest"]  # type: ignore[index]
    if latest:
        console.print(f"Latest monitoring report: {latest}")


def _reports(project: Project) -> dict[str, object]:
    """The pages of the latest monitoring windows (newest first), from ``headway monitor``."""
    folder = project.state_dir / "reports" / "monitoring"
    pages = (
        sorted(
            (p for p in folder.glob("*.html") if p.name != "latest.html"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        if folder.is_dir()
        else []
    )
    latest = folder / "latest.html"
    return {
        "monitoring": {
            "latest": str(latest) if latest.is_file() else None,
            "windows": [str(p) for p in pages[:20]],
        }
    }


def _ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
