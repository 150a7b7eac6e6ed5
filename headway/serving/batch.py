"""Batch scoring: a file (or a glob of files) scored with the server's answers, in bounded memory.

:func:`score_file` reads CSV or Parquet in chunks (``chunk_rows`` rows at a time, never the
whole file), scores each chunk exactly as the server scores a request with those rows (the
fast checks of :mod:`headway.serving.fastcheck` and the compiled scorer when the chunk is
clean, else the full path of :meth:`ServedModel.predict` with its schema warnings), writes
the answers chunk by chunk to a temporary file that is renamed onto the output at the end,
and appends each chunk's rows to the prediction log (route ``batch``).

Output columns: the input's id column (when given and present), ``prediction_id`` (new per
row), ``prediction``, the probabilities (``probability`` for a binary classifier, the
positive class; ``probability_<class>`` per class for a multiclass one; none for a
regressor), ``model_name`` and ``model_version``.

CSV is read as text and each number column is converted per chunk: a chunk whose number
column holds text goes through the full path, which reports it as the server would (a
warning, or an error naming the column and the row). A schema error stops the job with a
:class:`~headway.exceptions.DataError` naming the file, the row (counted from 0 within the
file, header excluded) and the column; nothing is left at the output.

``executor="ray"`` scores the chunks with Ray Data (one model per actor) while this process
writes the output and the log; see :func:`score_file`.

The files are read and written by :mod:`~headway.serving.batch_io`, a chunk is scored by
:mod:`~headway.serving.batch_score`, and the Ray executor is
:mod:`~headway.serving.batch_ray`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from headway.exceptions import DataError
from headway.predictions.base import new_ids
from headway.serving.batch_io import (
    OutputWriter,
    check_columns,
    columns_of,
    file_kind,
    parquet_rows,
    read_csv,
    read_parquet,
    resolve_inputs,
    wanted_columns,
)
from headway.serving.batch_score import log_records, output_table, score_chunk

if TYPE_CHECKING:
    import pyarrow as pa

    from headway.predictions import BasePredictionLog
    from headway.serving.model import ServedModel

__all__ = ["DEFAULT_CHUNK_ROWS", "BatchSummary", "resolve_inputs", "score_file"]

DEFAULT_CHUNK_ROWS = 50_000

Progress = Callable[[int, "int | None", str], None]
"""Called after each chunk with (units done, units in all or ``None``, unit): the unit is
``rows`` (Parquet: the total comes from the files' metadata) or ``bytes`` (CSV)."""


@dataclass
class BatchSummary:
    """What :func:`score_file` did.

    Attributes:
        rows: rows scored.
        files: the input files, in the order read.
        output: the file written.
        model_name, model_version, model_uri: the model that scored (the URI pinned to
            its version).
        seconds: wall time, model loading included.
        chunks: chunks scored.
        logged: rows appended to the prediction log (0 when not logged).
        executor: ``local`` or ``ray``.
        warnings: the schema warnings, one entry per column and check: how many chunks
            had it and the first rows that did (counted from 0 within ``file``).
    """

    rows: int
    files: list[str]
    output: str
    model_name: str | None
    model_version: str | None
    model_uri: str
    seconds: float
    chunks: int
    logged: int
    executor: str
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Warnings:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], dict[str, Any]] = {}

    def add(self, path: Path, warnings: list[dict[str, Any]]) -> None:
        for warning in warnings:
            key = (str(path), str(warning["column"]), str(warning["check"]))
            entry = self._seen.setdefault(
                key,
                {"file": key[0], "column": key[1], "check": key[2], "chunks": 0, "rows": []},
            )
            entry["chunks"] += 1
            room = 5 - len(entry["rows"])
            if room > 0:
                entry["rows"].extend(warning["rows"][:room])

    def report(self) -> list[dict[str, Any]]:
        return list(self._seen.values())


# -- the job --------------------------------------------------------------------------------


def score_file(
    input: str | Path | Sequence[str | Path],
    output: str | Path,
    *,
    model_uri: str,
    tracking_uri: str,
    registry_uri: str | None = None,
    log: BasePredictionLog | None = None,
    id_column: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    executor: Literal["local", "ray"] = "local",
    progress: Progress | None = None,
) -> BatchSummary:
    """Score ``input`` with the model at ``model_uri``, as the server would, into ``output``.

    Args:
        input: a CSV or Parquet file, a glob of them (same columns, one format), or a list.
        output: a ``.csv`` or ``.parquet`` file; written whole or not at all.
        model_uri: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
        tracking_uri, registry_uri: where the model is registered.
        log: the prediction log to append every scored row to (route ``batch``), one
            append per chunk; ``None``: not logged.
        id_column: copied from the input to the output when the input has it.
        chunk_rows: rows read, scored and written at a time (memory grows with it, not
            with the file).
        executor: ``local`` (this process) or ``ray`` (Ray Data actors score the chunks;
            this process writes the output and the log; Ray is started locally unless
            ``RAY_ADDRESS`` names a cluster).
        progress: see :data:`Progress`.

    Raises:
        DataError: an input is missing or unreadable, a suffix is neither CSV nor Parquet,
            a model column is missing (named), or a row breaks a schema rule of severity
            ``error`` (file, row and column named). Nothing is left at ``output``.
        ModelNotFoundError: nothing is registered under ``model_uri``.
    """
    from headway.registry import ModelRegistry
    from headway.serving.model import ServedModel

    started = time.perf_counter()
    if chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, got {chunk_rows}")
    files = resolve_inputs(input)
    target = Path(output)
    writer = OutputWriter(target)  # checks the output's suffix before anything is loaded
    for path in files:
        if path.resolve() == target.resolve():
            raise DataError(f"{target}: the output is one of the inputs; write elsewhere")
    model = ServedModel.load(model_uri, ModelRegistry(tracking_uri, registry_uri))
    check_columns(files, model)
    if executor == "ray":
        from headway.serving.batch_ray import ray_chunks

        chunks = ray_chunks(
            files, model, id_column, chunk_rows, tracking_uri, registry_uri, progress, log
        )
    elif executor == "local":
        chunks = _local_chunks(files, model, id_column, chunk_rows, progress, log)
    else:
        raise DataError(f"executor must be 'local' or 'ray', not {executor!r}")
    rows = logged = count = 0
    warnings = _Warnings()
    schema: pa.Schema | None = None
    try:
        for table, records, path, found in chunks:
            if log is not None and records:
                log.append(records)
                logged += len(records)
            warnings.add(path, found)
            writer.write(table)
            schema = schema or table.schema
            rows += table.num_rows
            count += 1
        writer.commit(schema or _empty_schema(model, id_column, files))
    except BaseException:
        writer.abort()
        raise
    return BatchSummary(
        rows=rows,
        files=[str(p) for p in files],
        output=str(target),
        model_name=model.name,
        model_version=model.version,
        model_uri=model.uri,
        seconds=time.perf_counter() - started,
        chunks=count,
        logged=logged,
        executor=executor,
        warnings=warnings.report(),
    )


Chunk = tuple["pa.Table", list[Any], Path, list[dict[str, Any]]]


def _empty_schema(model: ServedModel, id_column: str | None, files: list[Path]) -> pa.Schema:
    import pyarrow as pa

    fields = []
    if id_column is not None and id_column in columns_of(files[0]):
        fields.append(pa.field(id_column, pa.string()))
    fields += [pa.field("prediction_id", pa.string()), pa.field("prediction", pa.null())]
    if model.is_classifier:
        fields.append(pa.field("probability", pa.float64()))
    fields += [pa.field("model_name", pa.string()), pa.field("model_version", pa.string())]
    return pa.schema(fields)


def _local_chunks(
    files: list[Path],
    model: ServedModel,
    id_column: str | None,
    chunk_rows: int,
    progress: Progress | None,
    log: BasePredictionLog | None,
) -> Iterator[Chunk]:
    from headway.serving.fastcheck import compile_checks

    checker = compile_checks(model.types, model.schema)
    kind = file_kind(files[0], "an input")
    unit = "rows" if kind == "parquet" else "bytes"
    total = parquet_rows(files) if kind == "parquet" else sum(p.stat().st_size for p in files)
    done = 0

    def advance(units: int) -> None:
        nonlocal done
        done += units
        if progress is not None:
            progress(done, total, unit)

    for path in files:
        wanted = wanted_columns(columns_of(path), model, id_column)
        if kind == "csv":
            tables = read_csv(path, wanted, chunk_rows, advance)
        else:
            tables = read_parquet(path, wanted, chunk_rows)
        offset = 0
        for table in tables:
            chunk_started = time.perf_counter()
            scored = score_chunk(model, checker, table, path, offset)
            ids = new_ids(table.num_rows)
            latency = (time.perf_counter() - chunk_started) * 1000.0 / max(table.num_rows, 1)
            id_values = table.column(id_column) if id_column in table.column_names else None
            out = output_table(scored, ids, model, id_values, id_column)
            records = log_records(scored, ids, model, latency) if log is not None else []
            yield out, records, path, scored.warnings
            offset += table.num_rows
            if kind == "parquet":
                advance(table.num_rows)
