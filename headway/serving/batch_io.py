"""Batch scoring's files: the inputs (one file, a glob or a list; CSV or Parquet) read in
chunks of a bounded number of rows, and the output written chunk by chunk into a temporary
file that is renamed onto the output at the end (see :mod:`headway.serving.batch`)."""

from __future__ import annotations

import contextlib
import glob as globbing
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from headway.exceptions import DataError

if TYPE_CHECKING:
    import pyarrow as pa

    from headway.serving.model import ServedModel

__all__ = [
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "OutputWriter",
    "check_columns",
    "columns_of",
    "file_kind",
    "parquet_rows",
    "read_csv",
    "read_parquet",
    "resolve_inputs",
    "wanted_columns",
]

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
_GLOB_CHARS = re.compile(r"[*?\[]")


def file_kind(path: Path, what: str) -> Literal["csv", "parquet"]:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise DataError(
        f"{path}: {what} must be a .csv or .parquet (.pq) file, not {suffix or 'no suffix'}"
    )


def resolve_inputs(pattern: str | Path | Sequence[str | Path]) -> list[Path]:
    """The input files: one path, a glob (sorted), or a list of paths; all of one format.

    Raises:
        DataError: a file does not exist, the glob matches nothing, a suffix is neither
            CSV nor Parquet, or the files mix both.
    """
    if isinstance(pattern, str | Path):
        text = str(pattern)
        if Path(text).is_file():
            files = [Path(text)]
        elif _GLOB_CHARS.search(text):
            matches = globbing.glob(text, recursive=True)
            files = sorted(Path(p) for p in matches if Path(p).is_file())
            if not files:
                raise DataError(f"{text}: no file matches this pattern (give a file or a glob)")
        elif Path(text).is_dir():
            raise DataError(f"{text} is a folder: give a file or a glob such as {text}/*.parquet")
        else:
            raise DataError(f"{text}: no such input file")
    else:
        files = [Path(p) for p in pattern]
        for path in files:
            if not path.is_file():
                raise DataError(f"{path}: no such input file")
        if not files:
            raise DataError("no input file given")
    kinds = {file_kind(p, "an input") for p in files}
    if len(kinds) > 1:
        raise DataError("the input files mix CSV and Parquet: score each format separately")
    return files


def _csv_header(path: Path) -> list[str]:
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16))
        names = list(reader.schema.names)
        reader.close()
    except Exception as exc:  # pyarrow raises several kinds for an unreadable CSV
        raise DataError(f"{path}: cannot read the CSV header: {exc}") from exc
    return names


def columns_of(path: Path) -> list[str]:
    if file_kind(path, "an input") == "csv":
        return _csv_header(path)
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:
        raise DataError(f"{path}: cannot read the Parquet schema: {exc}") from exc


def check_columns(files: list[Path], model: ServedModel) -> None:
    for path in files:
        present = set(columns_of(path))
        missing = [c for c in model.types.columns if c not in present]
        if missing:
            shown = ", ".join(map(repr, missing[:20]))
            raise DataError(
                f"{path}: missing model input column(s) {shown}; the model takes "
                f"{', '.join(model.types.columns)} (the file must hold every one)"
            )


def wanted_columns(names: Sequence[str], model: ServedModel, id_column: str | None) -> list[str]:
    wanted = list(model.types.columns)
    if id_column is not None and id_column in names and id_column not in wanted:
        wanted.append(id_column)
    return wanted


def read_csv(
    path: Path, wanted: list[str], chunk_rows: int, on_bytes: Callable[[int], None]
) -> Iterator[pa.Table]:
    """The file's ``wanted`` columns as text (empty and NA-like cells: null), chunk by chunk."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    block = max(1 << 20, min(64 << 20, chunk_rows * 64))
    convert = pacsv.ConvertOptions(
        include_columns=wanted,
        column_types={c: pa.string() for c in wanted},
        strings_can_be_null=True,
    )
    source = pa.OSFile(str(path), "rb")
    try:
        reader = pacsv.open_csv(
            source, read_options=pacsv.ReadOptions(block_size=block), convert_options=convert
        )
        seen = 0

        def batches() -> Iterator[pa.RecordBatch]:
            nonlocal seen
            for batch in reader:
                yield batch
                now = source.tell()
                if now > seen:
                    on_bytes(now - seen)
                    seen = now

        try:
            yield from _rechunk(batches(), chunk_rows)
        except pa.ArrowInvalid as exc:
            raise DataError(f"{path}: cannot read the CSV: {exc}") from exc
    finally:
        source.close()


def read_parquet(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=wanted):
            yield pa.Table.from_batches([batch])


def _rechunk(batches: Iterator[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``chunk_rows`` rows (the last one: what is left)."""
    import pyarrow as pa

    buffer: pa.Table | None = None
    for batch in batches:
        piece = pa.Table.from_batches([batch])
        buffer = piece if buffer is None else pa.concat_tables([buffer, piece])
        while buffer.num_rows >= chunk_rows:  # slices share the buffers: no copies
            yield buffer.slice(0, chunk_rows)
            buffer = buffer.slice(chunk_rows)
    if buffer is not None and buffer.num_rows:
        yield buffer


def parquet_rows(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


class OutputWriter:
    """The output written chunk by chunk into a temporary file beside it, renamed at the end."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.kind = file_kind(output, "the output")
        self.temporary = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.partial")
        self._writer: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq

        if self._writer is None:
            self.output.parent.mkdir(parents=True, exist_ok=True)
            self._schema = table.schema
            if self.kind == "csv":
                self._writer = pacsv.CSVWriter(str(self.temporary), table.schema)
            else:
                self._writer = pq.ParquetWriter(str(self.temporary), table.schema)
        assert self._schema is not None
        if table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)

    def commit(self, empty_schema: pa.Schema) -> None:
        if self._writer is None:  # no rows: an empty file with the header or schema
            import pyarrow as pa

            self.write(empty_schema.empty_table() if empty_schema else pa.table({}))
        self._writer.close()
        self._writer = None
        os.replace(self.temporary, self.output)

    def abort(self) -> None:
        if self._writer is not None:
            # Already failing: the original error is the one to report.
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self.temporary.unlink(missing_ok=True)
