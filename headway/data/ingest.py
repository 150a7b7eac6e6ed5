"""The data stage: read the source, check it against its schema, version it by content.

``ingest_and_validate`` is the stage function. An unchanged source (same bytes) under an
unchanged schema and data configuration is recognised by its hash before it is parsed; its
validated snapshot is then read back instead, and validation is skipped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from headway.artifacts import DatasetVersion, ValidationReport
from headway.config import DataConfig
from headway.data.schema import DataSchema, infer_schema, load_schema, write_schema
from headway.data.sources import frame_hash, locate, read_source
from headway.data.validate import check_roles, raise_for_failures, validate
from headway.data.versions import DatasetStore, PendingSnapshot
from headway.exceptions import DataError

__all__ = ["Dataset", "ingest_and_validate", "validation_key"]


@dataclass(frozen=True)
class Dataset:
    """The outcome of the data stage: a validated, versioned table."""

    version: DatasetVersion
    report: ValidationReport
    schema: DataSchema
    frame: pd.DataFrame = field(repr=False, compare=False)
    reused: bool = False
    schema_written: bool = False


def validation_key(schema: DataSchema, data: DataConfig, task: str) -> str:
    """What a validation result depends on besides the data: schema, roles and task."""
    roles = data.model_dump(mode="json", exclude={"source"})
    payload = json.dumps([schema.fingerprint(), roles, task], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def ingest_and_validate(
    data: DataConfig,
    *,
    task: str,
    root: Path,
    store: DatasetStore,
    frame: pd.DataFrame | None = None,
    now: datetime | None = None,
    strict: bool = True,
    source_uri: str | None = None,
) -> Dataset:
    """Read, validate and version the project's table (or ``frame``, from the Python API).

    On the first run the schema is inferred from the data and written to
    ``data.schema_file`` once the data has passed validation; later runs enforce it.

    Args:
        strict: raise on error-severity failures (the pipeline); with ``False`` a failing
            report is returned instead, for ``headway validate`` to show, and nothing is saved.
        source_uri: where ``frame`` came from, recorded in its dataset version (default
            ``python:dataframe``), e.g. the prediction-log window of a retraining table.

    Raises:
        DataError: the data cannot be read or (``strict``) fails an error-severity check;
            nothing is written then (no snapshot, no schema).
        ConfigError: ``schema.yaml`` is invalid.
    """
    schema_path = root / data.schema_file
    schema = load_schema(schema_path) if schema_path.is_file() else None
    files = locate(data.source, root=root) if frame is None else None
    if files is not None and schema is not None:
        hit = store.find_validated(files.content_hash, validation_key(schema, data, task))
        if hit is not None:
            version, report = hit
            return Dataset(version, report, schema, store.load_frame(version), reused=True)

    if frame is None:
        frame = read_source(data.source, root=root, files=files)
        source_uri, fmt = (files.uri, str(data.source.type)) if files else ("sql:query", "sql")
        where = str(files.files[0]) if files and len(files.files) == 1 else data.source.describe()
    else:
        frame, source_uri, fmt, where = (
            frame.reset_index(drop=True),
            source_uri or "python:dataframe",
            "pandas",
            "DataFrame",
        )
    check_roles(frame, data, source=where)
    if data.timestamp_column is not None:
        frame[data.timestamp_column] = _parse_timestamps(frame[data.timestamp_column], where)
    content_hash = files.content_hash if files else frame_hash(frame)

    inferred = schema is None
    if schema is None:
        schema = infer_schema(frame, data)
    version = DatasetVersion(
        content_hash=content_hash,
        source_uri=source_uri,
        format=fmt,
        n_rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
        schema_hash=schema.fingerprint(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    pending: list[PendingSnapshot] = []
    report, frame = validate(
        frame,
        version,
        schema=schema,
        data=data,
        task=task,
        now=now,
        on_typed=lambda typed: pending.append(store.start(typed)),
    )
    if not report.passed:
        for snapshot in pending:
            store.abort(snapshot)
        if not strict:
            return Dataset(version, report, schema, frame)
        raise_for_failures(report, source=where)
    if inferred:
        write_schema(schema, schema_path)
    key = validation_key(schema, data, task)
    version = store.save(version, pending[0] if pending else frame, report, validation_key=key)
    return Dataset(version, report, schema, frame, reused=False, schema_written=inferred)


def _parse_timestamps(column: pd.Series, where: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")
    parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    bad = column[parsed.isna() & column.notna()]
    if len(bad):
        examples = ", ".join(repr(v) for v in bad.head(3).tolist())
        raise DataError(
            f"{where}: column {column.name!r} (data.timestamp_column) has {len(bad)} value(s) that "
            f"are not timestamps, e.g. {examples} (rows {', '.join(map(str, bad.index[:3]))}). "
            "Use ISO 8601 dates such as 2024-05-01T12:00:00Z."
        )
    return parsed
