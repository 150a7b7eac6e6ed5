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
"""

from __future__ import annotations

import contextlib
import glob as globbing
import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from headway.exceptions import DataError, InvalidRequestError
from headway.predictions.base import new_ids

if TYPE_CHECKING:
    import pyarrow as pa

    from headway.predictions import BasePredictionLog
    from headway.serving.fastcheck import FastChecker
    from headway.serving.model import ServedModel

__all__ = ["DEFAULT_CHUNK_ROWS", "BatchSummary", "score_file"]

DEFAULT_CHUNK_ROWS = 50_000
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
ROUTE = "batch"
_GLOB_CHARS = re.compile(r"[*?\[]")
_ROW = re.compile(r"\brow (\d+)")
_INPUTS = "__headway_inputs"
_OUTPUTS = "__headway_outputs"

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


# -- inputs and outputs ---------------------------------------------------------------------


def _kind(path: Path, what: str) -> Literal["csv", "parquet"]:
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
    kinds = {_kind(p, "an input") for p in files}
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


def _columns_of(path: Path) -> list[str]:
    if _kind(path, "an input") == "csv":
        return _csv_header(path)
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:
        raise DataError(f"{path}: cannot read the Parquet schema: {exc}") from exc


def _check_columns(files: list[Path], model: ServedModel) -> None:
    for path in files:
        present = set(_columns_of(path))
        missing = [c for c in model.types.columns if c not in present]
        if missing:
            shown = ", ".join(map(repr, missing[:20]))
            raise DataError(
                f"{path}: missing model input column(s) {shown}; the model takes "
                f"{', '.join(model.types.columns)} (the file must hold every one)"
            )


def _wanted(names: Sequence[str], model: ServedModel, id_column: str | None) -> list[str]:
    wanted = list(model.types.columns)
    if id_column is not None and id_column in names and id_column not in wanted:
        wanted.append(id_column)
    return wanted


def _read_csv(
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


def _read_parquet(path: Path, wanted: list[str], chunk_rows: int) -> Iterator[pa.Table]:
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


def _parquet_rows(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


class _Writer:
    """The output written chunk by chunk into a temporary file beside it, renamed at the end."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.kind = _kind(output, "the output")
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


# -- scoring one chunk ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value.item() if hasattr(value, "item") else value


def _model_columns(table: pa.Table, model: ServedModel) -> dict[str, list[Any]]:
    """The model's columns of a chunk as Python values, as a JSON request would hold them:
    number columns as numbers where every cell is one (else as read, for the full path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    numeric = set(model.types.numeric)
    columns: dict[str, list[Any]] = {}
    for name in model.types.columns:
        column = table.column(name)
        kind = column.type
        if name in numeric and (
            pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_decimal(kind)
        ):
            # Text stays text: the full path reports it as the server does.
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                column = pc.cast(column, pa.float64())
        columns[name] = column.to_pylist()
    return columns


@dataclass
class _Scored:
    result: dict[str, Any]
    columns: dict[str, list[Any]]
    warnings: list[dict[str, Any]]


def _score_chunk(
    model: ServedModel, checker: FastChecker, table: pa.Table, path: Path, offset: int
) -> _Scored:
    """The server's answer for the chunk's rows; ``offset``: its first row in the file."""
    columns = _model_columns(table, model)
    n = table.num_rows
    clean = checker.clean(columns, n)
    if clean is not None:
        return _Scored(model.predict_clean(clean), columns, [])
    import pandas as pd

    frame = pd.DataFrame(columns)
    try:
        result = model.predict(frame)
    except InvalidRequestError as exc:
        message = _ROW.sub(lambda m: f"row {offset + int(m[1])}", str(exc))
        raise DataError(
            f"{path}: {message} (rows counted from 0, header excluded); nothing was written"
        ) from exc
    warnings = result.pop("warnings", [])
    for warning in warnings:
        warning["rows"] = [offset + int(r) for r in warning["rows"]]
    return _Scored(result, columns, warnings)


def _probability_columns(
    probabilities: list[Any] | None,
) -> dict[str, list[float]]:
    if probabilities is None:
        return {}
    if not probabilities or not isinstance(probabilities[0], Mapping):
        return {"probability": list(probabilities)}
    classes = list(probabilities[0])
    if len(classes) == 2:  # binary without a threshold: the positive class
        return {"probability": [p[classes[1]] for p in probabilities]}
    return {f"probability_{c}": [p[c] for p in probabilities] for c in classes}


def _output_table(
    scored: _Scored,
    ids: list[str],
    model: ServedModel,
    id_values: pa.ChunkedArray | None,
    id_column: str | None,
) -> pa.Table:
    import pyarrow as pa

    n = len(ids)
    data: dict[str, Any] = {}
    if id_values is not None and id_column is not None:
        data[id_column] = id_values
    data["prediction_id"] = pa.array(ids, pa.string())
    data["prediction"] = pa.array([_plain(v) for v in scored.result["predictions"]])
    for name, values in _probability_columns(scored.result.get("probabilities")).items():
        data[name] = pa.array(values, pa.float64())
    data["model_name"] = pa.array([model.name or ""] * n, pa.string())
    data["model_version"] = pa.array([model.version or ""] * n, pa.string())
    return pa.table(data)


def _records(scored: _Scored, ids: list[str], model: ServedModel, latency_ms: float) -> list[Any]:
    """The chunk's rows as the server logs them (see :mod:`headway.serving.scoring`)."""
    from headway.serving.scoring import prediction_records

    names = list(model.types.columns)
    return prediction_records(
        ids,
        scored.columns,
        names,
        scored.result,
        model=(model.name or "", model.version or ""),
        route=ROUTE,
        latency_ms=latency_ms,
    )


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
    writer = _Writer(target)  # checks the output's suffix before anything is loaded
    for path in files:
        if path.resolve() == target.resolve():
            raise DataError(f"{target}: the output is one of the inputs; write elsewhere")
    model = ServedModel.load(model_uri, ModelRegistry(tracking_uri, registry_uri))
    _check_columns(files, model)
    if executor == "ray":
        chunks = _ray_chunks(
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
    if id_column is not None and id_column in _columns_of(files[0]):
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
    kind = _kind(files[0], "an input")
    unit = "rows" if kind == "parquet" else "bytes"
    total = _parquet_rows(files) if kind == "parquet" else sum(p.stat().st_size for p in files)
    done = 0

    def advance(units: int) -> None:
        nonlocal done
        done += units
        if progress is not None:
            progress(done, total, unit)

    for path in files:
        wanted = _wanted(_columns_of(path), model, id_column)
        if kind == "csv":
            tables = _read_csv(path, wanted, chunk_rows, advance)
        else:
            tables = _read_parquet(path, wanted, chunk_rows)
        offset = 0
        for table in tables:
            chunk_started = time.perf_counter()
            scored = _score_chunk(model, checker, table, path, offset)
            ids = new_ids(table.num_rows)
            latency = (time.perf_counter() - chunk_started) * 1000.0 / max(table.num_rows, 1)
            id_values = table.column(id_column) if id_column in table.column_names else None
            out = _output_table(scored, ids, model, id_values, id_column)
            records = _records(scored, ids, model, latency) if log is not None else []
            yield out, records, path, scored.warnings
            offset += table.num_rows
            if kind == "parquet":
                advance(table.num_rows)


# -- Ray ------------------------------------------------------------------------------------


class _RayScorer:
    """A Ray Data actor: the model loaded once, then chunk after chunk scored."""

    def __init__(
        self,
        model_uri: str,
        tracking_uri: str,
        registry_uri: str | None,
        id_column: str | None,
        logged: bool,
    ) -> None:
        from headway.registry import ModelRegistry
        from headway.serving.fastcheck import compile_checks
        from headway.serving.model import ServedModel

        self.model = ServedModel.load(model_uri, ModelRegistry(tracking_uri, registry_uri))
        self.checker = compile_checks(self.model.types, self.model.schema)
        self.id_column = id_column
        self.logged = logged

    def __call__(self, table: pa.Table) -> pa.Table:
        import pyarrow as pa

        started = time.perf_counter()
        path = Path(str(table.column("__headway_file")[0])) if table.num_rows else Path("?")
        scored = _score_chunk(self.model, self.checker, table, path, 0)
        ids = new_ids(table.num_rows)
        id_values = (
            table.column(self.id_column)
            if self.id_column is not None and self.id_column in table.column_names
            else None
        )
        out = _output_table(scored, ids, self.model, id_values, self.id_column)
        out = out.append_column("__headway_file", table.column("__headway_file"))
        latency = (time.perf_counter() - started) * 1000.0 / max(table.num_rows, 1)
        out = out.append_column("__headway_latency", pa.array([latency] * table.num_rows))
        out = out.append_column(
            "__headway_warnings", pa.array([json.dumps(scored.warnings)] * table.num_rows)
        )
        if self.logged:
            names = list(self.model.types.columns)
            inputs = [
                json.dumps({c: _plain(scored.columns[c][i]) for c in names})
                for i in range(table.num_rows)
            ]
            probabilities = scored.result.get("probabilities")
            outputs = [
                json.dumps(
                    {"prediction": _plain(p)}
                    | ({} if probabilities is None else {"probability": probabilities[i]})
                )
                for i, p in enumerate(scored.result["predictions"])
            ]
            out = out.append_column(_INPUTS, pa.array(inputs, pa.string()))
            out = out.append_column(_OUTPUTS, pa.array(outputs, pa.string()))
        return out


def _ray_chunks(
    files: list[Path],
    model: ServedModel,
    id_column: str | None,
    chunk_rows: int,
    tracking_uri: str,
    registry_uri: str | None,
    progress: Progress | None,
    log: BasePredictionLog | None,
) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import ray

    from headway.predictions import PredictionRecord

    kind = _kind(files[0], "an input")
    wanted = _wanted(_columns_of(files[0]), model, id_column)
    started_here = not ray.is_initialized()
    if started_here:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        else:
            ray.init(num_cpus=max(2, cpus), include_dashboard=False, log_to_driver=False)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        paths = [str(p.resolve()) for p in files]
        if kind == "parquet":
            dataset = ray.data.read_parquet(paths, columns=wanted, include_paths=True)
        else:
            dataset = ray.data.read_csv(
                paths,
                include_paths=True,
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted,
                    column_types={c: pa.string() for c in wanted},
                    strings_can_be_null=True,
                ),
            )
        dataset = dataset.rename_columns({"path": "__headway_file"})
        actors = max(1, int(ray.available_resources().get("CPU", 2)) - 1)
        scored = dataset.map_batches(
            _RayScorer,
            fn_constructor_kwargs={
                "model_uri": model.uri,
                "tracking_uri": tracking_uri,
                "registry_uri": registry_uri,
                "id_column": id_column,
                "logged": log is not None,
            },
            batch_size=chunk_rows,
            batch_format="pyarrow",
            concurrency=actors,
        )
        unit = "rows"
        total = _parquet_rows(files) if kind == "parquet" else None
        done = 0
        batches = iter(scored.iter_batches(batch_size=None, batch_format="pyarrow"))
        while True:
            try:
                table = next(batches)
            except StopIteration:
                break
            except Exception as exc:
                raise _ray_error(exc) from exc
            n = table.num_rows
            if not n:
                continue
            path = Path(str(table.column("__headway_file")[0]))
            found = json.loads(str(table.column("__headway_warnings")[0]))
            latency = float(table.column("__headway_latency")[0].as_py())
            records: list[Any] = []
            if log is not None:
                now = datetime.now(UTC)
                ids = table.column("prediction_id").to_pylist()
                inputs = table.column(_INPUTS).to_pylist()
                outputs = table.column(_OUTPUTS).to_pylist()
                records = [
                    PredictionRecord(
                        prediction_id=ids[i],
                        timestamp=now,
                        model_name=model.name or "",
                        model_version=model.version or "",
                        route=ROUTE,
                        inputs=json.loads(inputs[i]),
                        outputs=json.loads(outputs[i]),
                        latency_ms=latency,
                    )
                    for i in range(n)
                ]
            private = [c for c in table.column_names if c.startswith("__headway_")]
            table = table.drop_columns(private)
            done += n
            if progress is not None:
                progress(done, total, unit)
            yield table, records, path, found
    finally:
        if started_here:
            ray.shutdown()


def _ray_error(exc: BaseException) -> BaseException:
    """The user's error inside a Ray failure (a schema error of a row, say), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DataError):
            return DataError(f"{current} (with --executor ray the row counts within its batch)")
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else current.__cause__
    return exc
