"""Scoring one chunk of a batch job exactly as the server scores a request with those rows:
the fast checks and the compiled scorer when the chunk is clean, else the full path with
its schema warnings; the answers as an output table and as prediction-log records."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headway.exceptions import DataError, InvalidRequestError

if TYPE_CHECKING:
    import pyarrow as pa

    from headway.serving.fastcheck import FastChecker
    from headway.serving.model import ServedModel

__all__ = ["ROUTE", "Scored", "log_records", "output_table", "plain", "score_chunk"]

ROUTE = "batch"  # the route of batch-scored rows in the prediction log
_ROW = re.compile(r"\brow (\d+)")


def plain(value: Any) -> Any:
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
class Scored:
    result: dict[str, Any]
    columns: dict[str, list[Any]]
    warnings: list[dict[str, Any]]


def score_chunk(
    model: ServedModel, checker: FastChecker, table: pa.Table, path: Path, offset: int
) -> Scored:
    """The server's answer for the chunk's rows; ``offset``: its first row in the file."""
    columns = _model_columns(table, model)
    n = table.num_rows
    clean = checker.clean(columns, n)
    if clean is not None:
        return Scored(model.predict_clean(clean), columns, [])
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
    return Scored(result, columns, warnings)


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


def output_table(
    scored: Scored,
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
    data["prediction"] = pa.array([plain(v) for v in scored.result["predictions"]])
    for name, values in _probability_columns(scored.result.get("probabilities")).items():
        data[name] = pa.array(values, pa.float64())
    data["model_name"] = pa.array([model.name or ""] * n, pa.string())
    data["model_version"] = pa.array([model.version or ""] * n, pa.string())
    return pa.table(data)


def log_records(scored: Scored, ids: list[str], model: ServedModel, latency_ms: float) -> list[Any]:
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
