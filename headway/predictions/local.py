"""The embedded prediction log: append-only segment files, compacted to Parquet, read by DuckDB.

Layout under ``root`` (``DIR/.headway/predictions`` for a project)::

    segments/<pid>-<uuid>.jsonl                     predictions not compacted yet
    parquet/date=YYYY-MM-DD/part-<uuid>.parquet     compacted predictions (UTC day)
    feedback/segments/<pid>-<uuid>.jsonl            labels not compacted yet
    feedback/parquet/date=YYYY-MM-DD/part-<uuid>.parquet
    compact.lock                                    one compactor at a time

Every process writes its own segment (the server's workers never wait for each other) and
starts a new one past ``max_segment_bytes``. :meth:`EmbeddedPredictionLog.compact` turns
every segment that no live process writes to (this process's current one included: it is
closed first) into Parquet parts, one per UTC day, and then removes the segment. A reader
reads the segments first and the parts after, and keeps each prediction id once, so a
compaction running meanwhile neither hides a record nor shows it twice.

What a crash can lose:

- ``fsync: batch`` (the default): nothing that :meth:`~EmbeddedPredictionLog.append`
  acknowledged, even on a power loss: each batch is flushed to the disk
  (``fdatasync``) before ``append`` returns. A batch that was being written when the
  process died was not acknowledged; its torn line is skipped by readers.
- ``fsync: none``: a killed process loses nothing acknowledged (the data is in the
  operating system's page cache), but a machine crash or power loss loses what the
  operating system had not yet written to the disk (typically the last few seconds).

Compaction always flushes a part to the disk before it removes the segment.
"""

from __future__ import annotations

import fcntl
import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from headway.exceptions import ConfigError
from headway.predictions._frames import (
    day_of,
    dumps,
    feedback_frame,
    finish_predictions,
    prediction_frame,
    to_us,
)
from headway.predictions._parquet import FEEDBACK_SCHEMA, PREDICTION_SCHEMA, Partitions, table_of
from headway.predictions._segments import (
    SegmentWriter,
    closed_segments,
    fsync_dir,
    read_segment,
    segment_paths,
)
from headway.predictions.base import BasePredictionLog, Feedback, PredictionRecord, as_utc

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FSYNC_MODES", "EmbeddedPredictionLog"]

FSYNC_MODES = ("batch", "none")
MAX_SEGMENT_BYTES = 64 * 1024 * 1024
_PREDICTION_KEYS = (
    "prediction_id",
    "timestamp",
    "model_name",
    "model_version",
    "route",
    "latency_ms",
    "inputs",
    "outputs",
)
_FEEDBACK_KEYS = ("prediction_id", "label", "observed_at", "received_at")
_SELECT = (
    "SELECT prediction_id, epoch_us(timestamp) AS ts_us, model_name, model_version, route, "
    "latency_ms, inputs, outputs FROM parts"
)
# Each id once (an id appended twice, a part rewritten after a crash).
_ONCE = "QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY timestamp) = 1"


def check_fsync(fsync: str) -> bool:
    """Whether ``fsync`` asks for flushed batches.

    Raises:
        ConfigError: not ``batch`` or ``none``.
    """
    if fsync not in FSYNC_MODES:
        raise ConfigError(f"predictions.fsync is {fsync!r}: use 'batch' or 'none'")
    return fsync == "batch"


class EmbeddedPredictionLog(BasePredictionLog):
    """The prediction log in a local folder (see the module docstring).

    Args:
        root: the folder (created on first write).
        fsync: ``batch`` (flush every batch to the disk) or ``none``.
        max_segment_bytes: size past which a process starts a new segment.
        partitions: where compacted predictions go (default ``root/parquet``).
        feedback_partitions: where compacted labels go (default ``root/feedback/parquet``).

    Example:
        >>> with EmbeddedPredictionLog(project.predictions_dir) as log:  # doctest: +SKIP
        ...     log.append(records)
        ...     frame = log.read(model_name="churn")
    """

    def __init__(
        self,
        root: Path,
        *,
        fsync: str = "batch",
        max_segment_bytes: int = MAX_SEGMENT_BYTES,
        partitions: Partitions | None = None,
        feedback_partitions: Partitions | None = None,
    ) -> None:
        import pyarrow.fs as pafs

        self.root = Path(root)
        flush = check_fsync(fsync)
        self._segments = self.root / "segments"
        self._feedback_segments = self.root / "feedback" / "segments"
        self._writer = SegmentWriter(self._segments, fsync=flush, max_bytes=max_segment_bytes)
        self._feedback_writer = SegmentWriter(
            self._feedback_segments, fsync=flush, max_bytes=max_segment_bytes
        )
        local = pafs.LocalFileSystem()
        self._parts = partitions or Partitions(local, str(self.root / "parquet"), local=True)
        self._feedback_parts = feedback_partitions or Partitions(
            local, str(self.root / "feedback" / "parquet"), local=True
        )

    # -- writing -------------------------------------------------------------------------

    def append(self, records: Sequence[PredictionRecord]) -> None:
        lines = bytearray()
        for record in records:
            try:
                lines += dumps(
                    {
                        "prediction_id": record.prediction_id,
                        "timestamp": to_us(record.timestamp),
                        "model_name": record.model_name,
                        "model_version": record.model_version,
                        "route": record.route,
                        "latency_ms": float(record.latency_ms),
                        "inputs": record.inputs,
                        "outputs": record.outputs,
                    }
                )
            except TypeError as exc:
                raise TypeError(
                    f"prediction {record.prediction_id!r} cannot be logged: {exc}"
                ) from exc
            lines += b"\n"
        if lines:
            self._writer.write(bytes(lines))

    def _write_feedback(self, rows: Sequence[Feedback], received_at: datetime) -> None:
        received = to_us(received_at)
        lines = bytearray()
        for item in rows:
            line = {
                "prediction_id": item.prediction_id,
                "label": item.label,
                "observed_at": to_us(item.observed_at) if item.observed_at else None,
                "received_at": received,
            }
            try:
                lines += dumps(line) + b"\n"
            except TypeError as exc:
                raise TypeError(f"label of {item.prediction_id!r}: {exc}") from exc
        self._feedback_writer.write(bytes(lines))

    # -- reading -------------------------------------------------------------------------

    def read(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        model_name: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        lo = to_us(as_utc(start, "start")) if start is not None else None
        hi = to_us(as_utc(end, "end")) if end is not None else None

        def wanted(row: dict[str, Any]) -> bool:
            ts = row["timestamp"]
            return (
                (lo is None or ts >= lo)
                and (hi is None or ts < hi)
                and (model_name is None or row["model_name"] == model_name)
            )

        # Segments first, parts after: a segment compacted meanwhile is then in a part.
        pending = self._segment_predictions(wanted)
        conditions: list[str] = []
        params: list[Any] = []
        if start is not None:
            conditions.append("timestamp >= ?")
            params.append(as_utc(start, "start"))
        if end is not None:
            conditions.append("timestamp < ?")
            params.append(as_utc(end, "end"))
        if model_name is not None:
            conditions.append("model_name = ?")
            params.append(model_name)
        compacted = self._query(self._parts.files(start, end), conditions, params, limit)
        return finish_predictions([compacted, pending], limit=limit)

    def get(self, ids: Sequence[str]) -> pd.DataFrame:
        wanted_ids = set(ids)
        pending = self._segment_predictions(lambda row: row["prediction_id"] in wanted_ids)
        condition = ["prediction_id IN (SELECT unnest(?::VARCHAR[]))"]
        compacted = self._query(self._parts.files(), condition, [sorted(wanted_ids)], None)
        return finish_predictions([compacted, pending], limit=None)

    def _segment_predictions(self, wanted: Callable[[dict[str, Any]], bool]) -> pd.DataFrame:
        columns: dict[str, list[Any]] = {key: [] for key in _PREDICTION_KEYS}
        for path in segment_paths(self._segments):
            for row in read_segment(path, _PREDICTION_KEYS):
                if wanted(row):
                    for key in _PREDICTION_KEYS:
                        columns[key].append(row[key])
        return prediction_frame(columns)

    def _query(
        self, files: list[str], conditions: list[str], params: list[Any], limit: int | None
    ) -> pd.DataFrame:
        """Predictions in the Parquet ``files`` matching ``conditions``, each id once."""
        if not files:
            return prediction_frame({})
        import duckdb

        sql = _SELECT
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += f" {_ONCE}"
        if limit is not None:
            sql += " ORDER BY ts_us DESC, prediction_id DESC LIMIT ?"
            params = [*params, int(limit)]
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.register("parts", self._parts.dataset(files, PREDICTION_SCHEMA))
            rows = con.execute(sql, params).fetchall()
        found: dict[str, list[Any]] = {key: [] for key in _PREDICTION_KEYS}
        for row in rows:
            for key, value in zip(_PREDICTION_KEYS, row, strict=True):
                found[key].append(orjson.loads(value) if key in ("inputs", "outputs") else value)
        return prediction_frame(found)

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        wanted = set(ids)
        known = {
            row["prediction_id"]
            for path in segment_paths(self._segments)
            for row in read_segment(path, _PREDICTION_KEYS)
            if row["prediction_id"] in wanted
        }
        files = self._parts.files()
        if files and wanted - known:
            import duckdb

            sql = (
                "SELECT DISTINCT prediction_id FROM parts "
                "WHERE prediction_id IN (SELECT unnest(?::VARCHAR[]))"
            )
            with duckdb.connect() as con:
                con.register("parts", self._parts.dataset(files, PREDICTION_SCHEMA))
                rows = con.execute(sql, [sorted(wanted - known)]).fetchall()
            known.update(row[0] for row in rows)
        return known

    def _read_feedback(self) -> pd.DataFrame:
        columns: dict[str, list[Any]] = {key: [] for key in _FEEDBACK_KEYS}
        # Segments first, parts after (as for predictions); parts rows come first in the
        # frame: they arrived earlier. A row seen in both is the same label: harmless.
        pending = [
            row
            for path in segment_paths(self._feedback_segments)
            for row in read_segment(path, _FEEDBACK_KEYS)
        ]
        files = self._feedback_parts.files()
        if files:
            table = self._feedback_parts.dataset(files, FEEDBACK_SCHEMA).to_table()
            table = table.sort_by("received_at")
            parts = table.to_pydict()
            columns["prediction_id"] += parts["prediction_id"]
            columns["label"] += [orjson.loads(text) for text in parts["label"]]
            for key in ("observed_at", "received_at"):
                columns[key] += [to_us(value) if value else None for value in parts[key]]
        for row in pending:
            for key in _FEEDBACK_KEYS:
                columns[key].append(row[key])
        return feedback_frame(columns)

    # -- compaction ----------------------------------------------------------------------

    def compact(self) -> None:
        """Turn every segment no live process writes to into Parquet parts, then remove it.

        This process's current segments are closed first, so everything it appended is
        compacted. Compactors in several processes take turns (``compact.lock``).
        """
        with self._compaction_lock():
            self._writer.roll()
            self._feedback_writer.roll()
            self._compact(
                self._segments, self._parts, PREDICTION_SCHEMA, _PREDICTION_KEYS, "timestamp"
            )
            self._compact(
                self._feedback_segments,
                self._feedback_parts,
                FEEDBACK_SCHEMA,
                _FEEDBACK_KEYS,
                "received_at",
            )

    @contextmanager
    def _compaction_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / "compact.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _compact(
        directory: Path,
        partitions: Partitions,
        schema: Any,
        keys: tuple[str, ...],
        day_key: str,
    ) -> None:
        for path in closed_segments(directory):
            by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in read_segment(path, keys):
                part_row = dict(row)
                for key in ("inputs", "outputs", "label"):
                    if key in part_row:
                        part_row[key] = dumps(part_row[key]).decode()
                by_day[day_of(row[day_key])].append(part_row)
            for day, rows in sorted(by_day.items()):
                partitions.write(day, path.stem, table_of(rows, schema))
            path.unlink()
            fsync_dir(directory)

    def close(self) -> None:
        self._writer.close()
        self._feedback_writer.close()
