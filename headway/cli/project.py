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


def init(
    directory: Annotated[Path, typer.Argument(help="Directory of the new project.")],
    example: Annotated[
        str, typer.Option("--example", "-e", help=f"Example to start from: {', '.join(EXAMPLES)}.")
    ] = "churn",
    rows: Annotated[int, typer.Option(min=100, help="Rows of generated example data.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the data generator.")] = 0,
    name: Annotated[str | None, typer.Option(help="Project and model name.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing headway.yaml.")] = False,
) -> None:
    """Create a project: headway.yaml, example data and a .gitignore."""
    with console.status(f"Generating {rows:,} rows of '{example}' data..."):
        path = write_example(example, directory, n_rows=rows, seed=seed, name=name, force=force)
    console.print(f"[green]✓[/green] wrote {path} and {directory}/{EXAMPLES[example].data_file}")
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
    console.print(f"[bold]headway run[/bold] {loaded.config.name} ({loaded.tracking_uri})")
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
    if as_json:
        doc = {
            "project": loaded.config.name,
            "tracking_uri": loaded.tracking_uri,
            "primary_metric": loaded.config.metric,
            "models": [m.as_dict() for m in models],
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(f"[bold]{loaded.config.name}[/bold] — tracking store {loaded.tracking_uri}")
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


def _ms_to_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
