"""Read a project's table from CSV or Parquet and version it by content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from headway.artifacts import DatasetVersion
from headway.exceptions import DataError
from headway.project import SourceConfig

__all__ = ["Dataset", "ingest"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Dataset:
    """A table in memory together with the version record that names it."""

    version: DatasetVersion
    frame: pd.DataFrame = field(repr=False, compare=False)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _schema_hash(frame: pd.DataFrame) -> str:
    schema = [[str(c), str(t)] for c, t in frame.dtypes.items()]
    return hashlib.sha256(json.dumps(schema).encode()).hexdigest()[:16]


def _read(path: Path, source: SourceConfig) -> pd.DataFrame:
    try:
        if source.type == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=source.delimiter, low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"{path}: the file has no header and no rows. Export the data again."
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). "
            "Re-export the file as UTF-8."
        ) from exc
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot be read as {source.type}: {exc}") from exc


def ingest(
    source: SourceConfig, *, root: str | Path, timestamp_column: str | None = None
) -> Dataset:
    """Read the source table and describe it as a content-addressed :class:`DatasetVersion`.

    Args:
        source: the ``data.source`` section of the project file.
        root: directory that relative paths are resolved against (the project directory).
        timestamp_column: parsed to UTC timestamps when present in the table.

    Raises:
        DataError: the file is missing, empty, unreadable, has no rows, or the timestamp
            column has values that are not dates.
    """
    path = (Path(root) / source.path).resolve()
    if not path.is_file():
        raise DataError(
            f"{path}: data file not found (data.source.path = {source.path!r}). "
            "Fix the path in headway.yaml or put the file there."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the data file is empty. Export the data again.")
    frame = _read(path, source)
    if len(frame) == 0:
        raise DataError(f"{path}: the file has a header but no rows. Export the data again.")
    if timestamp_column is not None and timestamp_column in frame.columns:
        frame[timestamp_column] = _parse_timestamps(frame[timestamp_column], path)
    version = DatasetVersion(
        content_hash=_file_hash(path),
        source_uri=path.as_uri(),
        format=str(source.type),
        n_rows=len(frame),
        columns=tuple(str(c) for c in frame.columns),
        dtypes={str(c): str(t) for c, t in frame.dtypes.items()},
        schema_hash=_schema_hash(frame),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return Dataset(version=version, frame=frame)


def _parse_timestamps(column: pd.Series, path: Path) -> pd.Series:
    parsed = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    bad = column[parsed.isna() & column.notna()]
    if len(bad):
        examples = ", ".join(repr(v) for v in bad.head(3).tolist())
        raise DataError(
            f"{path}: column {column.name!r} (data.timestamp_column) has {len(bad)} value(s) that "
            f"are not timestamps, e.g. {examples} (rows {', '.join(map(str, bad.index[:3]))}). "
            "Use ISO 8601 dates such as 2024-05-01T12:00:00Z."
        )
    return parsed
