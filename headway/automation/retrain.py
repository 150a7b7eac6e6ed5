"""Retraining: the champion's training data plus the newly labelled predictions.

:func:`build_table` takes the dataset version the champion was trained on (from the
project's dataset store, or the tracking server's copy) and appends the labelled rows of
the prediction log made after the champion was trained and within ``retrain.window``: each
row's logged inputs, its latest label as the target, its prediction id as the row id and
its prediction time as the timestamp (when the table has those columns). Shadow rows are
left out (the same input is in the log as the champion's row). The table then goes
through the pipeline like any other (:func:`retrain`): validated, versioned as a dataset
version whose source is the log window (``predictions://MODEL?start=...&end=...``), with
lineage tags naming the trigger, the champion's dataset and the window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pandas as pd

from headway.config.monitoring import duration
from headway.data import DatasetStore
from headway.exceptions import DataError
from headway.pipeline.snapshots import fetch_snapshot
from headway.predictions import expand_columns, open_prediction_log
from headway.project import Project
from headway.registry import ModelRegistry, ModelVersionInfo

if TYPE_CHECKING:
    from headway.artifacts import PipelineResult
    from headway.pipeline.run import PipelineObserver

__all__ = [
    "RetrainTable",
    "build_table",
    "labelled_rows",
    "new_label_count",
    "retrain",
    "trained_at",
]

logger = logging.getLogger(__name__)


def trained_at(info: ModelVersionInfo) -> datetime:
    """When a version was registered (the end of its training), UTC."""
    return datetime.fromtimestamp(info.created_at_ms / 1000.0, tz=UTC)


def labelled_rows(project: Project, *, since: datetime, until: datetime) -> pd.DataFrame:
    """The project model's labelled predictions made in ``[since, until)`` (shadow rows
    left out), with the columns of :data:`~headway.predictions.JOINED_COLUMNS`."""
    cfg = project.config
    with open_prediction_log(
        project.predictions_url, project.predictions_dir, fsync=cfg.predictions.fsync
    ) as log:
        rows = log.joined(since, until)
    keep = (
        (rows["model_name"] == cfg.model_name) & (rows["route"] != "shadow") & rows["label"].notna()
    )
    return rows[keep].reset_index(drop=True)


@dataclass(frozen=True)
class RetrainTable:
    """A retraining table and where its rows came from."""

    model: str
    frame: pd.DataFrame
    base_rows: int
    new_rows: int
    base_dataset_hash: str
    window_start: datetime
    window_end: datetime

    @property
    def source_uri(self) -> str:
        return (
            f"predictions://{self.model}?start="
            f"{self.window_start.isoformat()}&end={self.window_end.isoformat()}"
            f"&base={self.base_dataset_hash[:12]}"
        )

    def lineage(self, trigger: str) -> dict[str, str]:
        return {
            "retrain_trigger": trigger,
            "base_dataset_hash": self.base_dataset_hash,
            "log_window_start": self.window_start.isoformat(),
            "log_window_end": self.window_end.isoformat(),
            "log_rows": str(self.new_rows),
        }


def build_table(
    project: Project,
    registry: ModelRegistry,
    champion: ModelVersionInfo,
    *,
    now: datetime,
) -> RetrainTable:
    """The champion's training table plus the labelled log rows (see the module).

    Raises:
        DataError: the champion's dataset version is not available, or the log rows
            cannot be turned into table rows (the message names the column).
    """
    cfg = project.config
    store = DatasetStore(project.datasets_dir)
    version = fetch_snapshot(registry, store, champion.tags)
    base = store.load_frame(version)
    limit = cfg.automation.retrain.max_history_rows
    if limit is not None and len(base) > limit:
        order = cfg.data.timestamp_column
        base = (base.sort_values(order, kind="stable") if order else base).tail(limit)
    start = max(
        trained_at(champion), now - duration(cfg.automation.retrain.window, "retrain.window")
    )
    rows = labelled_rows(project, since=start, until=now)
    new = _as_table_rows(rows, base, project)
    frame = pd.concat([base.reset_index(drop=True), new], ignore_index=True)
    first = pd.to_datetime(rows["timestamp"], utc=True).min() if len(rows) else None
    return RetrainTable(
        model=cfg.model_name,
        frame=frame,
        base_rows=len(base),
        new_rows=len(new),
        base_dataset_hash=version.content_hash,
        window_start=first.to_pydatetime() if first is not None else start,
        window_end=now,
    )


def _as_table_rows(rows: pd.DataFrame, base: pd.DataFrame, project: Project) -> pd.DataFrame:
    """Log rows as rows of ``base``'s columns and dtypes."""
    data = project.config.data
    if not len(rows):
        return base.iloc[0:0]
    spread = expand_columns(rows, ["inputs"])
    out = pd.DataFrame(index=spread.index)
    for column in base.columns:
        logged = f"inputs.{column}"
        if column == data.target:
            values = spread["label"]
        elif logged in spread.columns:
            values = spread[logged]
        elif column == data.id_column:
            values = spread["prediction_id"]
        elif column == data.timestamp_column:
            values = pd.to_datetime(spread["timestamp"], utc=True)
        else:
            values = pd.Series(pd.NA, index=spread.index)
        out[column] = _like(values, base[column], column)
    return out


def _like(values: pd.Series, model: pd.Series, column: str) -> pd.Series:
    """``values`` in the dtype of the training column ``model``."""
    dtype = model.dtype
    try:
        if pd.api.types.is_datetime64_any_dtype(dtype):
            converted = pd.to_datetime(values, utc=True)
            if getattr(dtype, "tz", None) is None:
                converted = converted.dt.tz_localize(None)
            return converted.astype(dtype)
        if pd.api.types.is_bool_dtype(dtype):
            return values.map(lambda v: v if pd.isna(v) else str(v).lower() in ("1", "true"))
        if pd.api.types.is_integer_dtype(dtype) and values.notna().all():
            return pd.to_numeric(values).astype(dtype)
        if pd.api.types.is_numeric_dtype(dtype):
            return pd.to_numeric(values).astype(float)
        return values.astype(dtype) if values.notna().all() else values.astype(object)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"retraining: logged values of column {column!r} do not fit its training type "
            f"{dtype}: {exc}"
        ) from exc


def retrain(
    project: Project,
    champion: ModelVersionInfo,
    *,
    trigger: str,
    now: datetime | None = None,
    observer: PipelineObserver | None = None,
) -> tuple[RetrainTable, PipelineResult]:
    """Build the retraining table and run the pipeline on it.

    The new version is gated against the champion like any other; when it is blessed and
    the project rolls versions out it becomes ``challenger`` (see
    :func:`headway.pipeline.run.rolls_out`) for the controller to roll out.

    Raises:
        DataError, TrainingError, RegistryError: as :func:`~headway.pipeline.run_pipeline`.
    """
    from headway.pipeline.run import run_pipeline

    at = now or datetime.now(UTC)
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    table = build_table(project, registry, champion, now=at)
    logger.info(
        "retraining %s on %d rows of v%s's data + %d labelled log rows",
        project.config.model_name,
        table.base_rows,
        champion.version,
        table.new_rows,
    )
    result = run_pipeline(
        project,
        observer=observer,
        frame=table.frame,
        source_uri=table.source_uri,
        lineage_extra=table.lineage(trigger),
    )
    return table, result


def new_label_count(project: Project, champion: ModelVersionInfo, *, now: datetime) -> int:
    """Labelled predictions made since the champion was trained (the volume trigger)."""
    return len(labelled_rows(project, since=trained_at(champion), until=now))
