"""``headway predictions`` and ``headway feedback``: the prediction log and its labels."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console, parse_time
from headway.exceptions import DataError
from headway.project import Project

if TYPE_CHECKING:
    import pandas as pd

    from headway.predictions import BasePredictionLog

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_CELL = 60  # characters of inputs/outputs shown in a table cell


def _open(project: Project) -> BasePredictionLog:
    from headway.predictions import open_prediction_log

    return open_prediction_log(
        project.predictions_url,
        project.predictions_dir,
        fsync=project.config.predictions.fsync,
    )


def _json_value(value: Any) -> Any:
    """A frame cell as JSON: times in ISO 8601, missing values as null."""
    import pandas as pd

    if isinstance(value, dict | list):
        return value
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def predictions(
    project: ProjectOption = Path("."),
    since: Annotated[
        str | None,
        typer.Option(help="Only predictions at or after this time (ISO 8601, or 30m, 2h, 7d)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only predictions before this time (same forms).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, the newest.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The latest logged predictions, newest first, with their label when one arrived."""
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    loaded = Project.load(project)
    with _open(loaded) as log:
        found = log.read(start, end, limit=limit)
        labels = log.feedback()
    rows = found.merge(labels[["prediction_id", "label"]], how="left", on="prediction_id").iloc[
        ::-1
    ]
    if as_json:
        doc = [
            {key: _json_value(value) for key, value in row.items()}
            for row in rows.to_dict(orient="records")
        ]
        typer.echo(json.dumps(doc, indent=2))
        return
    if rows.empty:
        if since or until:
            console.print("No predictions logged in that window.")
        else:
            console.print("No predictions logged yet. Serve a model: headway serve --project DIR")
        return
    console.print(_table(rows, title=f"{loaded.config.name}: latest predictions"))


def _table(rows: pd.DataFrame, *, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("time (UTC)", "id", "model", "route", "ms", "outputs", "label", "inputs"):
        table.add_column(column, overflow="fold" if column == "id" else "ellipsis")
    for row in rows.itertuples(index=False):
        label = _json_value(row.label)
        table.add_row(
            row.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            str(row.prediction_id),
            f"{row.model_name}/{row.model_version}",
            str(row.route),
            f"{row.latency_ms:.1f}",
            _short(row.outputs),
            "-" if label is None else str(label),
            _short(row.inputs),
        )
    return table


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= _CELL else text[: _CELL - 1] + "…"


def feedback(
    file: Annotated[Path, typer.Option("--file", "-f", help="Labels: a .csv or .parquet file.")],
    project: ProjectOption = Path("."),
    id_column: Annotated[
        str, typer.Option(help="Column holding the prediction id.")
    ] = "prediction_id",
    label_column: Annotated[str, typer.Option(help="Column holding the label.")] = "label",
    observed_at_column: Annotated[
        str | None,
        typer.Option(
            help="Column holding when each label was observed (UTC unless it says). "
            "Default: observed_at when the file has it; otherwise labels count as observed now."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Add labels (delayed feedback) for logged predictions from a file, in bulk.

    Labels for ids the log has never seen are not stored: they are listed. A prediction
    labelled again keeps its latest label (by observation time).
    """
    loaded = Project.load(project)
    frame = _read_labels(file, id_column)
    for option, column in (("--id-column", id_column), ("--label-column", label_column)):
        if column not in frame.columns:
            raise DataError(
                f"{file}: no column {column!r} (given by {option}); the file has "
                f"{', '.join(map(str, frame.columns))}"
            )
    observed = observed_at_column
    if observed is not None and observed not in frame.columns:
        raise DataError(
            f"{file}: no column {observed!r} (given by --observed-at-column); the file has "
            f"{', '.join(map(str, frame.columns))}"
        )
    if observed is None and "observed_at" in frame.columns:
        observed = "observed_at"
    items, skipped = _labels(frame, id_column, label_column, observed)
    with _open(loaded) as log:
        result = log.add_feedback(items)
    if as_json:
        doc = {"accepted": result.accepted, "unknown_ids": result.unknown_ids, "skipped": skipped}
        typer.echo(json.dumps(doc, indent=2))
        return
    console.print(f"[green]✓[/green] {result.accepted} labels stored")
    if skipped:
        console.print(f"[yellow]{skipped} rows skipped: no id or no label[/yellow]")
    if result.unknown_ids:
        console.print(
            f"[yellow]{len(result.unknown_ids)} ids never logged (labels not stored):[/yellow] "
            + ", ".join(result.unknown_ids),
            soft_wrap=True,
        )


def _read_labels(file: Path, id_column: str) -> pd.DataFrame:
    import pandas as pd

    if not file.is_file():
        raise DataError(f"{file}: no such labels file (give --file PATH.csv or .parquet)")
    suffix = file.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(file, dtype={id_column: str})  # ids stay text: "007"
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(file)
    except (OSError, ValueError) as exc:
        raise DataError(f"{file}: cannot read the labels: {exc}") from exc
    raise DataError(f"{file}: labels must be a .csv or .parquet file, not {suffix or 'no suffix'}")


def _labels(
    frame: pd.DataFrame, id_column: str, label_column: str, observed_column: str | None
) -> tuple[list[Any], int]:
    """The file's rows as :class:`Feedback`; rows without an id or a label are skipped."""
    import pandas as pd

    from headway.predictions import Feedback

    times: list[datetime | None] = [None] * len(frame)
    if observed_column is not None:
        try:
            parsed = pd.to_datetime(frame[observed_column], utc=True, format="mixed")
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"column {observed_column!r} does not hold times (ISO 8601 expected): {exc}"
            ) from exc
        times = [None if pd.isna(t) else t.to_pydatetime() for t in parsed]
    items, skipped = [], 0
    for pid, label, when in zip(frame[id_column], frame[label_column], times, strict=True):
        if _json_value(pid) is None or _json_value(label) is None:
            skipped += 1
            continue
        items.append(Feedback(str(pid), _json_value(label), when))
    return items, skipped
