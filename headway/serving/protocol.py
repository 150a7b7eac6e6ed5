"""Request bodies of MLflow's scoring protocol -> a pandas DataFrame.

Accepted JSON bodies (``Content-Type: application/json``), as MLflow's own server:

- ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}``
- ``{"dataframe_records": [{"col": value, ...}, ...]}``
- ``{"instances": [{"col": value, ...}, ...]}`` (rows as objects)
- ``{"inputs": {"col": [values...], ...}}`` or ``{"inputs": [{"col": value}, ...]}``

and CSV with a header row (``Content-Type: text/csv``).
"""

from __future__ import annotations

import io
from typing import Any

import orjson
import pandas as pd

from headway.exceptions import InvalidRequestError

__all__ = ["FORMATS", "parse_request"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _records(rows: Any, key: str) -> pd.DataFrame:
    if not isinstance(rows, list) or not rows:
        raise InvalidRequestError(f"'{key}' must be a non-empty list of objects (one per row)")
    if not all(isinstance(r, dict) for r in rows):
        bad = next(i for i, r in enumerate(rows) if not isinstance(r, dict))
        raise InvalidRequestError(
            f"'{key}'[{bad}] is a {type(rows[bad]).__name__}, expected an object of "
            "column: value; use 'dataframe_split' to send rows as lists with column names"
        )
    return pd.DataFrame.from_records(rows)


def _split(payload: Any) -> pd.DataFrame:
    if not isinstance(payload, dict):
        raise InvalidRequestError("'dataframe_split' must be an object with 'columns' and 'data'")
    columns, data = payload.get("columns"), payload.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidRequestError("'dataframe_split.columns' must be a list of column names")
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        raise InvalidRequestError(f"'dataframe_split.columns' repeats {repeated[:5]}")
    if not isinstance(data, list) or not data:
        raise InvalidRequestError("'dataframe_split.data' must be a non-empty list of rows")
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            size = len(row) if isinstance(row, list) else type(row).__name__
            raise InvalidRequestError(
                f"'dataframe_split.data'[{i}] has {size} values but there are "
                f"{len(columns)} columns"
            )
    return pd.DataFrame(data, columns=columns)


def _inputs(payload: Any) -> pd.DataFrame:
    if isinstance(payload, dict):
        lengths = {k: len(v) if isinstance(v, list) else None for k, v in payload.items()}
        if not payload or any(n is None for n in lengths.values()):
            raise InvalidRequestError("'inputs' as an object must map each column to a list")
        if len(set(lengths.values())) != 1:
            sizes = sorted(set(lengths.values()), key=str)[:5]
            raise InvalidRequestError(
                f"'inputs' columns have different lengths ({sizes}); send one value per row "
                "in every column"
            )
        return pd.DataFrame(payload)
    return _records(payload, "inputs")


def parse_request(body: bytes, content_type: str | None) -> pd.DataFrame:
    """Parse a scoring request body.

    Raises:
        InvalidRequestError: the body is not one of the accepted formats; the message
            names the problem without echoing the payload.
    """
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media == "text/csv":
        try:
            frame = pd.read_csv(io.BytesIO(body))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InvalidRequestError(f"the CSV body cannot be parsed: {exc}") from exc
        if frame.empty:
            raise InvalidRequestError("the CSV body has no rows")
        return _not_empty(frame, "the CSV body")
    if media != "application/json":
        raise InvalidRequestError(
            f"unsupported Content-Type {media!r}; use application/json or text/csv"
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from exc
    if not isinstance(doc, dict):
        raise InvalidRequestError(
            f"the JSON body must be an object with one of the keys {', '.join(FORMATS)}"
        )
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        found = sorted(map(str, doc))[:5]
        raise InvalidRequestError(
            f"the JSON body must have exactly one of the keys {', '.join(FORMATS)}; found {found}"
        )
    key = keys[0]
    if key == "dataframe_split":
        frame = _split(doc[key])
    elif key == "inputs":
        frame = _inputs(doc[key])
    else:
        frame = _records(doc[key], key)
    return _not_empty(frame, f"'{key}'")


def _not_empty(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    if frame.shape[1] == 0:
        raise InvalidRequestError(f"{source} has no columns; send the model's feature columns")
    if frame.shape[0] == 0:
        raise InvalidRequestError(f"{source} has no rows; send at least one row to score")
    return frame
