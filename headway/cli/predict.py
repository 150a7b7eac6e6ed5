"""``headway predict``: batch scoring of a file with the server's answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from headway.cli._common import ProjectOption, console, err_console, parse_version
from headway.project import Project
from headway.registry import CHAMPION


def predict(
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="A .csv or .parquet file, or a glob of them (same columns)."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The .csv or .parquet file to write (its suffix decides)."
        ),
    ],
    project: ProjectOption = Path("."),
    model: Annotated[
        str | None,
        typer.Option("--model", help="NAME/VERSION to score with (default: the champion)."),
    ] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="models:/NAME@ALIAS or models:/NAME/VERSION.")
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not append the predictions to the log.")
    ] = False,
    chunk_rows: Annotated[
        int, typer.Option(min=1, help="Rows read, scored and written at a time.")
    ] = 50_000,
    executor: Annotated[
        str,
        typer.Option(
            help="local: this process; ray: Ray Data actors score the chunks (a local Ray "
            "unless RAY_ADDRESS names a cluster), this process writes the output and the log.",
        ),
    ] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Score a file (or a glob of files) as the server would, chunk by chunk, into OUTPUT.

    The output holds the id column (data.id_column, when the input has it), prediction_id,
    prediction, the probabilities and the model's name and version; every row is logged
    with route "batch" unless --no-log or predictions.enabled is false. A row that breaks a
    schema rule of severity error stops the job (file, row and column named) and nothing
    is written.
    """
    from headway.exceptions import ConfigError
    from headway.serving.batch import resolve_inputs, score_file

    if model is not None and model_uri is not None:
        raise ConfigError("give --model NAME/VERSION or --model-uri, not both")
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor must be local or ray, not {executor!r}")
    loaded = Project.load(project)
    cfg = loaded.config
    if model is not None:
        name, version = parse_version(model)
        uri = f"models:/{name}/{version}"
    else:
        uri = model_uri or f"models:/{cfg.model_name}@{CHAMPION}"
    kind: Literal["local", "ray"] = "ray" if executor == "ray" else "local"
    logged = cfg.predictions.enabled and not no_log
    log = None
    if logged:
        from headway.predictions import open_prediction_log

        log = open_prediction_log(
            loaded.predictions_url, loaded.predictions_dir, fsync=cfg.predictions.fsync
        )
    scored_input: Any = input
    workdir = None
    if cfg.features.service is not None:
        workdir, scored_input = _with_online_features(loaded, input, cfg.features.service)
    try:
        summary = _run(
            score_file,
            quiet=as_json,
            input=scored_input,
            output=output,
            model_uri=uri,
            tracking_uri=loaded.tracking_uri,
            registry_uri=loaded.registry_uri,
            log=log,
            id_column=cfg.data.id_column,
            chunk_rows=chunk_rows,
            executor=kind,
        )
    finally:
        if log is not None:
            log.close()
        if workdir is not None:
            workdir.cleanup()
    files = summary.files if workdir is None else [str(p) for p in resolve_inputs(input)]
    doc = {
        "rows": summary.rows,
        "files": files,
        "output": summary.output,
        "model": summary.model_name,
        "version": summary.model_version,
        "seconds": round(summary.seconds, 3),
        "chunks": summary.chunks,
        "logged": summary.logged,
        "executor": summary.executor,
        "warnings": summary.warnings,
    }
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(
        f"[green]✓[/green] {summary.rows:,} rows from {len(files)} file(s) scored by "
        f"[bold]{summary.model_name} v{summary.model_version}[/bold] into {summary.output} "
        f"in {summary.seconds:.1f}s"
        + (f"; {summary.logged:,} logged" if logged else "; not logged"),
        highlight=False,
    )
    for warning in summary.warnings:
        rows = ", ".join(map(str, warning["rows"]))
        err_console.print(
            f"[yellow]warning:[/yellow] {warning['file']}: column {warning['column']!r} "
            f"failed the {warning['check']} check in {warning['chunks']} chunk(s), "
            f"first rows {rows}",
            highlight=False,
            soft_wrap=True,
        )


def _run(score: Any, *, quiet: bool, **kwargs: Any) -> Any:
    """``score(**kwargs)`` under a progress bar (none when ``quiet``)."""
    if quiet:
        return score(**kwargs)
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    state: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("scoring", total=None, done="")
        rows_column, bytes_column = MofNCompleteColumn(), DownloadColumn()

        def progress(done: int, total: int | None, unit: str) -> None:
            column = rows_column if unit == "rows" else bytes_column
            bar.update(task, completed=done, total=total)
            state["text"] = column.render(bar.tasks[0])
            bar.update(task, done=state["text"])

        return score(progress=progress, **kwargs)


def _with_online_features(project: Project, input: str, service: str) -> tuple[Any, Any]:
    """For a model trained on a feature service: the input with every missing feature
    read from the online store (and on-demand features computed), as the server fills a
    request, in one Parquet file of a temporary folder; ``(None, input)`` when the input
    carries every feature already. The filled table is built in memory."""
    import tempfile

    import pandas as pd

    from headway.features.definitions import load_definitions
    from headway.features.online import open_online_store
    from headway.serving.batch import resolve_inputs
    from headway.serving.features import FeatureFiller

    cfg = project.config
    files = resolve_inputs(input)
    frames = [
        pd.read_parquet(f) if f.suffix.lower() == ".parquet" else pd.read_csv(f) for f in files
    ]
    frame = pd.concat(frames, ignore_index=True)
    definitions = load_definitions(project.root / cfg.features.definitions)
    with open_online_store(cfg.features.online_store, project.state_dir / "online.db") as store:
        filler = FeatureFiller(definitions, service, store)
        filled = filler.fill_frame(frame)
    if filled is frame or list(filled.columns) == list(frame.columns):
        return None, input
    workdir = tempfile.TemporaryDirectory(prefix="headway-predict-")
    path = Path(workdir.name) / "filled.parquet"
    filled.to_parquet(path)
    return workdir, str(path)
