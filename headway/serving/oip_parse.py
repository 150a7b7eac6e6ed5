"""Reading an Open Inference Protocol (V2) inference request: the body, its input tensors,
and the outputs it asks for (see :mod:`headway.serving.oip` for the forms accepted).

The body is parsed here, not by FastAPI, so that the bare ``NaN`` that tritonclient writes
for a missing float can be read (as a missing value); every malformed part is an
:class:`~headway.exceptions.InvalidRequestError` naming the field.
"""

from __future__ import annotations

import math
import re
import uuid
import zlib
from collections.abc import Sequence
from typing import Any

import orjson

from headway.exceptions import InvalidRequestError, RequestTooLargeError
from headway.serving.model import ServedModel
from headway.serving.protocol import ParsedRequest

__all__ = ["DATATYPES", "OUTPUTS", "decode_body", "load_body", "parse_infer"]

DATATYPES = frozenset(
    {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    }
)
_INTEGER = frozenset(d for d in DATATYPES if "INT" in d)
_FLOAT = frozenset({"FP16", "FP32", "FP64"})
_NUMBER_TYPES = _INTEGER | _FLOAT | {"BOOL"}
OUTPUTS = ("predict", "proba")

# Bare NaN / Infinity tokens outside JSON strings (strings are matched whole and kept).
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?Infinity|-?NaN')
# What an infinity becomes until the input that holds it is known (then a 400 naming it).
_INFINITY = "\x00headway-infinity-" + uuid.uuid4().hex
_INFINITY_JSON = orjson.dumps(_INFINITY)


def load_body(body: bytes) -> Any:
    """The JSON document of a body that may hold bare NaN / Infinity tokens."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass

    def replace(match: re.Match[bytes]) -> bytes:
        token = match.group()
        if token.startswith(b'"'):
            return token
        return b"null" if token.endswith(b"NaN") else _INFINITY_JSON

    try:
        return orjson.loads(_TOKENS.sub(replace, body))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc.msg} at {exc.pos}") from exc


def decode_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body, inflated when sent with ``Content-Encoding: gzip`` or ``deflate``."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidRequestError(
            f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none"
        )
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidRequestError(f"the {encoding} body cannot be decompressed: {exc}") from exc
    if len(out) > limit:
        raise RequestTooLargeError(
            f"the decompressed request body exceeds the limit of {limit} bytes; send smaller "
            "batches"
        )
    return out


def _flatten(data: Any, shape: Sequence[int], where: str) -> list[Any]:
    """The row-major elements of ``data``: flat, or nested exactly as ``shape``."""
    if not isinstance(data, list):
        raise InvalidRequestError(f"{where}: 'data' must be a list")
    size = math.prod(shape)
    if not any(isinstance(v, list) for v in data):
        if len(data) != size:
            raise InvalidRequestError(
                f"{where}: 'data' has {len(data)} values but shape {list(shape)} needs {size}"
            )
        return data
    out: list[Any] = []

    def walk(node: Any, depth: int) -> None:
        if depth == len(shape):
            if isinstance(node, list):
                raise InvalidRequestError(
                    f"{where}: 'data' is nested deeper than shape {list(shape)}"
                )
            out.append(node)
            return
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise InvalidRequestError(
                f"{where}: 'data' is not nested as shape {list(shape)} (dimension {depth})"
            )
        for item in node:
            walk(item, depth + 1)

    walk(data, 0)
    return out


def _number(value: str) -> Any:
    """A number column's text value: a float when it reads as a finite one, None for
    'nan' or '', else the text itself (the schema's types rule decides)."""
    text = value.strip()
    if text.lower() in ("", "nan"):
        return None
    try:
        number = float(text)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _values(values: list[Any], datatype: str, numeric: bool, where: str, column: str) -> list[Any]:
    """The JSON values of one column, checked against the tensor's datatype."""
    out: list[Any] = []
    for i, value in enumerate(values):
        if value is None:
            out.append(None)
            continue
        if value == _INFINITY:
            raise InvalidRequestError(
                f"{where}: column {column!r} row {i} is not a finite number; send null for "
                "a missing value"
            )
        kind = type(value)
        if datatype == "BYTES":
            if kind is str:
                out.append(_number(value) if numeric else value)
            elif kind is int or kind is float:
                out.append(value)
            else:
                raise InvalidRequestError(
                    f"{where}: column {column!r} row {i} is a {kind.__name__}; BYTES holds strings"
                )
        elif datatype == "BOOL":
            if kind is not bool:
                raise InvalidRequestError(
                    f"{where}: column {column!r} row {i} is a {kind.__name__}; BOOL holds "
                    "true or false"
                )
            out.append(int(value))
        elif kind is int or (kind is float and datatype in _FLOAT):
            out.append(value)
        else:
            raise InvalidRequestError(
                f"{where}: column {column!r} row {i} is a {kind.__name__}, not a {datatype} value"
            )
    return out


def _input_where(item: dict[str, Any], index: int) -> str:
    name = item.get("name")
    return f"input {name!r}" if isinstance(name, str) else f"inputs[{index}]"


def _check_input(item: Any, index: int) -> tuple[str, list[int], str]:
    """Name, shape and datatype of one request input."""
    if not isinstance(item, dict):
        raise InvalidRequestError(f"inputs[{index}] must be an object with name, shape, data")
    where = _input_where(item, index)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"inputs[{index}]: 'name' must be a non-empty string")
    for key in ("shape", "datatype", "data"):
        if key not in item:
            raise InvalidRequestError(f"{where}: '{key}' is missing")
    shape = item["shape"]
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise InvalidRequestError(f"{where}: 'shape' must be a list of non-negative integers")
    datatype = item["datatype"]
    if datatype not in DATATYPES:
        raise InvalidRequestError(
            f"{where}: datatype {datatype!r} is not a V2 datatype ({', '.join(sorted(DATATYPES))})"
        )
    parameters = item.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequestError(f"{where}: 'parameters' must be an object")
    if parameters and parameters.get("binary_data_size") is not None:
        raise InvalidRequestError(
            f"{where}: binary tensor data is not supported; send the data as JSON"
        )
    if shape[0] == 0:
        raise InvalidRequestError(f"{where}: shape {shape} has no rows; send at least one row")
    return name, shape, datatype


def _by_column(
    inputs: list[Any], model: ServedModel, *, filled: bool = False
) -> tuple[int, dict[str, list[Any]]]:
    """Rows sent as one input per model column.

    With ``filled`` (the server fills a feature service's features from the online store),
    inputs may also be entity keys and request-time fields, typed by their datatype, and
    model columns may be left out: the features are filled, and a column still missing
    after that is the scorer's 400.
    """
    types = model.types
    numeric = set(types.numeric)
    known = set(types.columns)
    got: dict[str, list[Any]] = {}
    n_rows: int | None = None
    first = ""
    for index, item in enumerate(inputs):
        name, shape, datatype = _check_input(item, index)
        where = f"input {name!r}"
        if name not in known and not filled:
            raise InvalidRequestError(
                f"{where} is not a column of the model; its columns are {', '.join(types.columns)}"
            )
        if name in got:
            raise InvalidRequestError(f"{where} is sent twice")
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidRequestError(
                f"{where}: shape {shape} is not one column; use [n] or [n, 1]"
            )
        if name not in known:  # an entity key or request field: typed as sent
            pass
        elif name in numeric:
            if datatype not in _NUMBER_TYPES and datatype != "BYTES":
                raise InvalidRequestError(f"{where}: datatype {datatype} for a number column")
        elif datatype != "BYTES":
            raise InvalidRequestError(
                f"{where} is a category column: send it as BYTES, not {datatype}"
            )
        if n_rows is None:
            n_rows, first = shape[0], name
        elif shape[0] != n_rows:
            raise InvalidRequestError(
                f"{where} has {shape[0]} rows but input {first!r} has {n_rows}; send one "
                "value per row in every input"
            )
        flat = _flatten(item["data"], shape, where)
        number = name in numeric if name in known else datatype in _NUMBER_TYPES
        got[name] = _values(flat, datatype, number, where, name)
    missing = [c for c in types.columns if c not in got]
    if missing and not filled:
        raise InvalidRequestError(
            f"the model's columns {', '.join(missing)} have no input; send one input per column"
        )
    assert n_rows is not None
    ordered = [c for c in types.columns if c in got]
    return n_rows, {c: got[c] for c in [*ordered, *(c for c in got if c not in known)]}


def _by_tensor(item: Any, model: ServedModel) -> tuple[int, dict[str, list[Any]]]:
    """Rows sent as one 2-D tensor of the model's columns, in the model's order."""
    name, shape, datatype = _check_input(item, 0)
    where = f"input {name!r}"
    types = model.types
    k = len(types.columns)
    if len(shape) != 2 or shape[1] != k:
        raise InvalidRequestError(
            f"{where}: shape {shape} is not [n, {k}]; the 2-D tensor holds the model's {k} "
            f"columns in this order: {', '.join(types.columns)} (or send one input per column, "
            "named as the column)"
        )
    if datatype != "BYTES" and types.categorical:
        raise InvalidRequestError(
            f"{where}: the model has category columns ({', '.join(types.categorical)}); send "
            f"the 2-D tensor as BYTES, not {datatype}"
        )
    if datatype not in _NUMBER_TYPES and datatype != "BYTES":
        raise InvalidRequestError(f"{where}: datatype {datatype} for number columns")
    flat = _flatten(item["data"], shape, where)
    numeric = set(types.numeric)
    columns = {
        column: _values(flat[j::k], datatype, column in numeric, where, column)
        for j, column in enumerate(types.columns)
    }
    return shape[0], columns


def parse_infer(
    doc: Any, model: ServedModel, keys: frozenset[str] = frozenset()
) -> tuple[ParsedRequest, list[str]]:
    """The rows of a V2 inference request and the outputs it asks for.

    ``keys``: the entity keys of the feature service whose features the server fills (none
    when it fills none); a request may then send keys and request fields instead of the
    features (one input per column).

    Raises:
        InvalidRequestError: the request is malformed; the message names the field.
    """
    if not isinstance(doc, dict):
        raise InvalidRequestError("the body must be a JSON object with 'inputs'")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidRequestError("'id' must be a string")
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidRequestError("'parameters' must be an object")
    content_type = parameters.get("content_type")
    if content_type not in (None, "pd", "np"):
        raise InvalidRequestError(
            f"parameters.content_type {content_type!r} is not supported; use 'pd' (one input "
            "per column) or 'np' (one 2-D tensor)"
        )
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidRequestError("'inputs' must be a non-empty list of input tensors")
    outputs = _requested(doc.get("outputs"), model)
    columns = set(model.types.columns) | keys  # a model column or an entity key
    names = [i.get("name") for i in inputs if isinstance(i, dict)]
    by_column = content_type == "pd" or (
        content_type is None and (len(inputs) > 1 or any(n in columns for n in names))
    )
    if by_column:
        n_rows, data = _by_column(inputs, model, filled=bool(keys))
    elif len(inputs) != 1:
        raise InvalidRequestError(
            f"parameters.content_type 'np' takes one 2-D input; got {len(inputs)} inputs"
        )
    else:
        n_rows, data = _by_tensor(inputs[0], model)

    def build() -> Any:
        import pandas as pd

        return pd.DataFrame(data)

    return ParsedRequest(n_rows, data, build), outputs


def _requested(outputs: Any, model: ServedModel) -> list[str]:
    available = list(OUTPUTS if model.is_classifier else OUTPUTS[:1])
    if outputs is None:
        return available
    if not isinstance(outputs, list):
        raise InvalidRequestError("'outputs' must be a list of {\"name\": ...} objects")
    names: list[str] = []
    for i, item in enumerate(outputs):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidRequestError(f"outputs[{i}] must be an object with a 'name'")
        name = item["name"]
        if name not in available:
            raise InvalidRequestError(
                f"output {name!r} is not an output of the model; its outputs are "
                f"{', '.join(available)}"
            )
        params = item.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise InvalidRequestError(f"output {name!r}: 'parameters' must be an object")
        if params and params.get("classification"):
            raise InvalidRequestError(
                f"output {name!r}: the classification extension is not supported; ask for 'proba'"
            )
        if name not in names:
            names.append(name)
    return names
