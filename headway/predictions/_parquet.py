"""Date-partitioned Parquet files (``BASE/date=YYYY-MM-DD/part-NAME.parquet``) on a local
disk or an object store, and their schemas.

A part is named after the segment it was made from, so compacting a segment again (after
a crash between writing the part and removing the segment) rewrites the same part instead
of adding a copy. On a local disk a part is written under a temporary name, flushed and
renamed, so readers see whole parts only; an object store makes an uploaded object
visible whole.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from headway.predictions._segments import fsync_dir

__all__ = ["FEEDBACK_SCHEMA", "PREDICTION_SCHEMA", "Partitions"]

_TIME = pa.timestamp("us", tz="UTC")
PREDICTION_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("timestamp", _TIME),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
        ("route", pa.string()),
        ("latency_ms", pa.float64()),
        ("inputs", pa.string()),  # JSON text: each model has its own columns
        ("outputs", pa.string()),
    ]
)
FEEDBACK_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("label", pa.string()),  # JSON text: a label may be a number, a string, a boolean
        ("observed_at", _TIME),
        ("received_at", _TIME),
    ]
)
_PREFIX = "date="


class Partitions:
    """The Parquet parts under ``base`` on ``filesystem`` (a local folder when ``local``)."""

    def __init__(self, filesystem: pafs.FileSystem, base: str, *, local: bool) -> None:
        self.filesystem = filesystem
        self.base = base.rstrip("/")
        self.local = local

    def days(self) -> list[str]:
        """The partitions present, ``YYYY-MM-DD``, oldest first."""
        selector = pafs.FileSelector(self.base, recursive=False, allow_not_found=True)
        found = self.filesystem.get_file_info(selector)
        names = (info.base_name for info in found if info.type == pafs.FileType.Directory)
        return sorted(name[len(_PREFIX) :] for name in names if name.startswith(_PREFIX))

    def files(self, start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """The parts of the partitions that may hold times in ``[start, end)``."""
        first = start.astimezone(UTC).date().isoformat() if start is not None else None
        # ``end`` is excluded: a window ending at midnight does not need that day.
        last = (
            (end.astimezone(UTC) - timedelta(microseconds=1)).date().isoformat()
            if end is not None
            else None
        )
        out: list[str] = []
        for day in self.days():
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            selector = pafs.FileSelector(f"{self.base}/{_PREFIX}{day}", allow_not_found=True)
            for info in self.filesystem.get_file_info(selector):
                name = info.base_name
                is_part = name.startswith("part-") and name.endswith(".parquet")
                if info.type == pafs.FileType.File and is_part:
                    out.append(info.path)
        return sorted(out)

    def dataset(self, files: list[str], schema: pa.Schema) -> pads.Dataset:
        return pads.dataset(files, schema=schema, format="parquet", filesystem=self.filesystem)

    def write(self, day: str, name: str, table: pa.Table) -> None:
        """Write ``table`` as the part ``name`` of partition ``day`` (replacing a part of
        that name), durably before returning."""
        folder = f"{self.base}/{_PREFIX}{day}"
        path = f"{folder}/part-{name}.parquet"
        if not self.local:
            pq.write_table(table, path, filesystem=self.filesystem)
            return
        directory = Path(folder)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".part-{name}-{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(table, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(directory)
        fsync_dir(directory.parent)


def table_of(rows: Iterable[dict[str, object]], schema: pa.Schema) -> pa.Table:
    """``rows`` (times as microseconds) as a table of ``schema``."""
    rows = list(rows)
    arrays = []
    for column in schema:
        values = [row[column.name] for row in rows]
        if column.type == _TIME:
            arrays.append(pa.array(values, pa.int64()).cast(_TIME))
        else:
            arrays.append(pa.array(values, column.type))
    return pa.Table.from_arrays(arrays, schema=schema)
