"""``headway runs`` and ``headway compare``: the tracked runs, their trials, side by side."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console
from headway.project import Project
from headway.registry import layout

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def runs(
    project: ProjectOption = Path("."),
    trials: Annotated[bool, typer.Option("--trials", help="List every trial too.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Pipeline runs of the project, newest first, with their best family and scores."""
    from headway.registry import ModelRegistry
    from headway.registry.runs import list_runs

    loaded = Project.load(project)
    cfg = loaded.config
    if loaded.uses_embedded_store and not loaded.tracking_db_path.exists():
        found = []
    else:
        client = ModelRegistry(loaded.tracking_uri, loaded.registry_uri).client
        found = list_runs(client, cfg.experiment_name)
    parents = [r for r in found if r.parent_id is None]
    children: dict[str, list] = {}
    for run in found:
        if run.parent_id is not None:
            children.setdefault(run.parent_id, []).append(run)
    if as_json:
        doc = [
            {**p.as_dict(), "trials": [c.as_dict() for c in children.get(p.run_id, [])]}
            for p in parents
        ]
        typer.echo(json.dumps(doc, indent=2))
        return
    if not parents:
        console.print(f"No runs yet. Run: headway run --project {project}")
        return
    metric = cfg.metric
    table = Table(title=f"{cfg.name}: runs", title_justify="left")
    for column in (
        "run",
        "started",
        "status",
        "trials",
        "best family",
        f"valid {metric}",
        f"test {metric}",
        "blessed",
        "dataset",
    ):
        table.add_column(column)
    for run in parents:
        valid = run.metrics.get(f"valid_{metric}")
        test = run.metrics.get(f"test_{metric}")
        table.add_row(
            run.run_id[:12],
            _when(run.start_time_ms),
            run.status,
            str(len(children.get(run.run_id, []))),
            run.params.get("best.family", "-"),
            f"{valid:.4f}" if valid is not None else "-",
            f"{test:.4f}" if test is not None else "-",
            run.tags.get(layout.BLESSED.name, "-"),
            run.tags.get(layout.DATASET_HASH.name, "-")[:12],
        )
        if trials:
            for child in sorted(children.get(run.run_id, []), key=lambda c: c.start_time_ms):
                score = child.metrics.get(f"valid_{metric}")
                table.add_row(
                    f"  {child.name}", "", child.status, "", child.params.get("family", "-"),
                    f"{score:.4f}" if score is not None else "-", "", "", "",
                )  # fmt: skip
    console.print(table)


def compare(
    run_a: Annotated[str, typer.Argument(help="First run id.")],
    run_b: Annotated[str, typer.Argument(help="Second run id.")],
    project: ProjectOption = Path("."),
    as_json: JsonOption = False,
) -> None:
    """Params and metrics of two runs side by side; differences are marked."""
    from headway.registry import ModelRegistry
    from headway.registry.runs import get_run

    loaded = Project.load(project)
    client = ModelRegistry(loaded.tracking_uri, loaded.registry_uri).client
    a, b = get_run(client, run_a), get_run(client, run_b)
    rows = []
    for kind, left, right in (("param", a.params, b.params), ("metric", a.metrics, b.metrics)):
        for key in sorted(set(left) | set(right)):
            rows.append((kind, key, left.get(key), right.get(key)))
    if as_json:
        doc = [
            {"kind": k, "key": key, "a": va, "b": vb, "differs": va != vb}
            for k, key, va, vb in rows
        ]
        typer.echo(json.dumps({"a": a.run_id, "b": b.run_id, "rows": doc}, indent=2))
        return
    table = Table(title=f"{a.run_id[:12]} vs {b.run_id[:12]}", title_justify="left")
    for column in ("", "kind", "key", a.run_id[:12], b.run_id[:12]):
        table.add_column(column)
    for kind, key, va, vb in rows:
        mark = "[yellow]≠[/]" if va != vb else ""
        shown = [
            f"{v:.4f}" if isinstance(v, float) else ("-" if v is None else str(v)) for v in (va, vb)
        ]
        table.add_row(mark, kind, key, *shown)
    console.print(table)
