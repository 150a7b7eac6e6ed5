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

__all__ = ["FORMATS", "ParsedRequest", "parse", "parse_request"]

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
    _check_split(payload)
    return pd.DataFrame(payload["data"], columns=payload["columns"])


def _check_split(payload: Any) -> None:
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


def _check_inputs(payload: dict[str, Any]) -> int:
    """The number of rows of ``inputs`` given as columns."""
    lengths = {k: len(v) if isinstance(v, list) else None for k, v in payload.items()}
    if not payload or any(n is None for n in lengths.values()):
        raise InvalidRequestError("'inputs' as an object must map each column to a list")
    if len(set(lengths.values())) != 1:
        sizes = sorted(set(lengths.values()), key=str)[:5]
        raise InvalidRequestError(
            f"'inputs' columns have different lengths ({sizes}); send one value per row "
            "in every column"
        )
    return int(next(iter(lengths.values())) or 0)


def _inputs(payload: Any) -> pd.DataFrame:
    if isinstance(payload, dict):
        _check_inputs(payload)
        return pd.DataFrame(payload)
    return _records(payload, "inputs")


class ParsedRequest:
    """A checked request body: its rows as columns of JSON values when the format gives
    them cheaply (``columns``, for the fast path), and as a DataFrame on demand."""

    def __init__(
        self,
        n_rows: int,
        columns: dict[str, list[Any]] | None,
        build: Any,
    ) -> None:
        self.n_rows = n_rows
        self.columns = columns
        self._build = build
        self._frame: pd.DataFrame | None = None

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, as :func:`parse_request` returns them."""
        if self._frame is None:
            self._frame = self._build()
        return self._frame


def parse(body: bytes, content_type: str | None) -> ParsedRequest:
    """Parse a scoring request body (see :func:`parse_request` for the errors)."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media != "application/json":
        frame = parse_request(body, content_type)
        return ParsedRequest(len(frame), None, lambda: frame)
    key, payload = _document(body)
    source = f"'{key}'"
    if key == "dataframe_split":
        _check_split(payload)
        if not payload["columns"]:
            raise InvalidRequestError(f"{source} has no columns; send the model's feature columns")
        names, data = payload["columns"], payload["data"]
        columns = {c: list(v) for c, v in zip(names, zip(*data, strict=True), strict=True)}
        return ParsedRequest(
            len(data),
            columns,
            lambda: _not_empty(pd.DataFrame(data, columns=names), source),
        )
    if key == "inputs" and isinstance(payload, dict):
        n_rows = _check_inputs(payload)
        if n_rows == 0:
            raise InvalidRequestError(f"{source} has no rows; send at least one row to score")
        return ParsedRequest(n_rows, payload, lambda: _not_empty(pd.DataFrame(payload), source))
    frame = _not_empty(_inputs(payload) if key == "inputs" else _records(payload, key), source)
    return ParsedRequest(len(frame), None, lambda: frame)


def _document(body: bytes) -> tuple[str, Any]:
    """The format key of a JSON body and its payload."""
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
    return keys[0], doc[keys[0]]


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
    key, payload = _document(body)
    if key == "dataframe_split":
        frame = _split(payload)
    elif key == "inputs":
        frame = _inputs(payload)
    else:
        frame = _records(payload, key)
    return _not_empty(frame, f"'{key}'")


def _not_empty(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    if frame.shape[1] == 0:
        raise InvalidRequestError(f"{source} has no columns; send the model's feature columns")
    if frame.shape[0] == 0:
        raise InvalidRequestError(f"{source} has no rows; send at least one row to score")
    return frame
