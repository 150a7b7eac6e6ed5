"""Batch scoring on Ray Data: actors load the model once and score chunk after chunk; the
calling process writes the output and the prediction log (see :func:`ray_chunks`)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headway.exceptions import DataError
from headway.predictions.base import new_ids
from headway.serving.batch_io import columns_of, file_kind, parquet_rows, wanted_columns
from headway.serving.batch_score import ROUTE, output_table, plain, score_chunk

if TYPE_CHECKING:
    import pyarrow as pa

    from headway.predictions import BasePredictionLog
    from headway.serving.batch import Chunk, Progress
    from headway.serving.model import ServedModel

__all__ = ["ray_chunks"]

_INPUTS = "__headway_inputs"
_OUTPUTS = "__headway_outputs"


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
        scored = score_chunk(self.model, self.checker, table, path, 0)
        ids = new_ids(table.num_rows)
        id_values = (
            table.column(self.id_column)
            if self.id_column is not None and self.id_column in table.column_names
            else None
        )
        out = output_table(scored, ids, self.model, id_values, self.id_column)
        out = out.append_column("__headway_file", table.column("__headway_file"))
        latency = (time.perf_counter() - started) * 1000.0 / max(table.num_rows, 1)
        out = out.append_column("__headway_latency", pa.array([latency] * table.num_rows))
        out = out.append_column(
            "__headway_warnings", pa.array([json.dumps(scored.warnings)] * table.num_rows)
        )
        if self.logged:
            names = list(self.model.types.columns)
            inputs = [
                json.dumps({c: plain(scored.columns[c][i]) for c in names})
                for i in range(table.num_rows)
            ]
            probabilities = scored.result.get("probabilities")
            outputs = [
                json.dumps(
                    {"prediction": plain(p)}
                    | ({} if probabilities is None else {"probability": probabilities[i]})
                )
                for i, p in enumerate(scored.result["predictions"])
            ]
            out = out.append_column(_INPUTS, pa.array(inputs, pa.string()))
            out = out.append_column(_OUTPUTS, pa.array(outputs, pa.string()))
        return out


def ray_chunks(
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

    kind = file_kind(files[0], "an input")
    wanted = wanted_columns(columns_of(files[0]), model, id_column)
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
        total = parquet_rows(files) if kind == "parquet" else None
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
