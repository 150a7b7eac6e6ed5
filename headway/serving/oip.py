"""The Open Inference Protocol (KServe V2) REST API, next to MLflow's ``/invocations``.

Endpoints: ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2`` (server metadata),
``GET /v2/models/{name}[/versions/{version}]`` (model metadata),
``GET /v2/models/{name}[/versions/{version}]/ready`` and
``POST /v2/models/{name}[/versions/{version}]/infer``.

An inference request sends the rows either as one input tensor per model column (the
name is the column, shape ``[n]`` or ``[n, 1]``; BYTES for category columns, a numeric
datatype or BYTES for number columns) or as one 2-D tensor ``[n, k]`` of the model's
``k`` columns in their order (FP32/FP64/INT* when every column is a number, else BYTES).
Data may be flat (row-major) or nested as the shape. The body is parsed here, not by
FastAPI, so that the bare ``NaN`` that tritonclient writes for a missing float can be read
(as a missing value), and the rows go through the same scorer as ``/invocations``: the
fast path, micro-batching, the schema checks and the prediction log.

The binary tensor extension is not supported: binary inputs are a 400, and a request for
binary outputs (``binary_data_output`` or an output's ``binary_data``, which tritonclient
sets by default) is answered in JSON, which every client reads.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from headway._version import __version__
from headway.exceptions import (
    HeadwayError,
    InvalidRequestError,
    ModelNotFoundError,
    PredictionLogError,
    RequestTooLargeError,
)
from headway.serving.http import inline_schema, json_response, read_body
from headway.serving.model import ServedModel
from headway.serving.protocol import ParsedRequest

__all__ = ["DATATYPES", "oip_router"]

logger = logging.getLogger(__name__)

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
_OUTPUTS = ("predict", "proba")
_ENDPOINT = "/v2/infer"  # the ``endpoint`` label of the request metrics

# Bare NaN / Infinity tokens outside JSON strings (strings are matched whole and kept).
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|-?Infinity|-?NaN')
# What an infinity becomes until the input that holds it is known (then a 400 naming it).
_INFINITY = "\x00headway-infinity-" + uuid.uuid4().hex
_INFINITY_JSON = orjson.dumps(_INFINITY)


# -- documented bodies ---------------------------------------------------------------------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorResponse(BaseModel):
    """Every error: a 4xx (or 5xx) with a message naming the input or field."""

    error: str


class LiveResponse(BaseModel):
    live: bool


class ReadyResponse(BaseModel):
    ready: bool


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool


class ServerMetadataResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class MetadataTensor(_Open):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: any size (the rows)")
    parameters: dict[str, Any] | None = None


class ModelMetadataResponse(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class RequestInput(_Open):
    name: str = Field(description="a model column, or any name for the one 2-D tensor")
    shape: list[int] = Field(description="[n] or [n, 1] per column; [n, k] for the 2-D tensor")
    datatype: str = Field(description="BYTES, FP64, FP32, INT64, INT32, BOOL, ...")
    parameters: dict[str, Any] | None = None
    data: list[Any] = Field(description="row-major, flat or nested as the shape; null: missing")


class RequestOutput(_Open):
    name: str = Field(description="predict or proba")
    parameters: dict[str, Any] | None = None


class InferenceRequest(_Open):
    id: str | None = None
    parameters: dict[str, Any] | None = Field(
        default=None, description='{"content_type": "pd"} marks one input per column'
    )
    inputs: list[RequestInput]
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str
    parameters: dict[str, Any] = Field(description="prediction_ids, and warnings if any")
    outputs: list[ResponseOutput]


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "a malformed request, naming the field"},
    404: {"model": ErrorResponse, "description": "no such model or version"},
}
_INFER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(InferenceRequest.model_json_schema())}
        },
    }
}


# -- parsing -------------------------------------------------------------------------------


def _loads(body: bytes) -> Any:
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


def _decode(body: bytes, encoding: str | None, limit: int) -> bytes:
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
    columns = set(model.types.columns)
    names = [i.get("name") for i in inputs if isinstance(i, dict)]
    by_column = content_type == "pd" or (
        content_type is None and (len(inputs) > 1 or any(n in columns | keys for n in names))
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
    available = list(_OUTPUTS if model.is_classifier else _OUTPUTS[:1])
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


# -- answers -------------------------------------------------------------------------------


def _label_datatype(model: ServedModel) -> str:
    if not model.is_classifier:
        return "FP64"
    kind = np.asarray(model.estimator.classes_).dtype.kind
    return {"i": "INT64", "u": "INT64", "b": "BOOL", "f": "FP64"}.get(kind, "BYTES")


def _classes(model: ServedModel) -> list[Any]:
    return list(np.asarray(model.estimator.classes_).tolist())


def _binary(model: ServedModel) -> bool:
    """Whether probabilities come as the positive class's per row (as ``/invocations``)."""
    return len(_classes(model)) == 2 and getattr(model.estimator, "threshold", None) is not None


def _proba_parameters(model: ServedModel) -> dict[str, Any]:
    classes = _classes(model)
    if _binary(model):
        return {"classes": classes, "positive_class": classes[1]}
    return {"classes": classes}


def metadata(model: ServedModel) -> dict[str, Any]:
    """The V2 model metadata of ``model``."""
    numeric = set(model.types.numeric)
    inputs = [
        {"name": c, "datatype": "FP64" if c in numeric else "BYTES", "shape": [-1]}
        for c in model.types.columns
    ]
    outputs: list[dict[str, Any]] = [
        {"name": "predict", "datatype": _label_datatype(model), "shape": [-1]}
    ]
    if model.is_classifier:
        shape = [-1] if _binary(model) else [-1, len(_classes(model))]
        outputs.append(
            {
                "name": "proba",
                "datatype": "FP64",
                "shape": shape,
                "parameters": _proba_parameters(model),
            }
        )
    return {
        "name": model.name or "model",
        "versions": [model.version] if model.version else [],
        "platform": "headway_sklearn",
        "inputs": inputs,
        "outputs": outputs,
    }


def _outputs(result: dict[str, Any], model: ServedModel, names: list[str]) -> list[Any]:
    predictions = result["predictions"]
    n = len(predictions)
    out: list[dict[str, Any]] = []
    for name in names:
        if name == "predict":
            datatype = _label_datatype(model)
            data: list[Any]
            if datatype == "BYTES":
                data = [None if v is None else str(v) for v in predictions]
            elif datatype == "FP64":
                data = [None if v is None else float(v) for v in predictions]
            else:
                data = list(predictions)
            out.append({"name": name, "datatype": datatype, "shape": [n], "data": data})
            continue
        probabilities = result.get("probabilities") or []
        if probabilities and isinstance(probabilities[0], dict):
            keys = [str(c) for c in _classes(model)]
            flat = [row[key] for row in probabilities for key in keys]
            shape = [n, len(keys)]
        else:
            flat, shape = list(probabilities), [n]
        out.append(
            {
                "name": name,
                "datatype": "FP64",
                "shape": shape,
                "parameters": _proba_parameters(model),
                "data": flat,
            }
        )
    return out


# -- HTTP ----------------------------------------------------------------------------------

# Error class -> HTTP status, most specific first (as ``/invocations``).
_STATUS: tuple[tuple[type[HeadwayError], int], ...] = (
    (RequestTooLargeError, 413),
    (InvalidRequestError, 400),
    (ModelNotFoundError, 503),
    (PredictionLogError, 503),
)


# -- the router ----------------------------------------------------------------------------


def oip_router(state: Any) -> APIRouter:
    """The V2 routes of the server whose :class:`ServingState` is ``state``."""
    router = APIRouter(prefix="/v2", tags=["Open Inference Protocol (V2)"])

    def error(message: str, status: int) -> Response:
        return json_response({"error": message}, status)

    def headway_error(exc: HeadwayError) -> Response:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        return error(str(exc), status)

    def served(name: str, version: str | None) -> ServedModel | Response:
        """The champion, or the version asked for when it is served here (the champion or
        the candidate of the deployment record); else a 404 naming what is served."""
        model: ServedModel = state.scorer.model
        served_name = model.name or "model"
        if name != served_name:
            return error(
                f"model {name!r} is not served here; this server serves {served_name!r}", 404
            )
        if version is None or version == model.version:
            return model
        candidate = state.candidate
        if candidate is not None and version == candidate.model.version:
            return candidate.model
        versions = [model.version] + ([candidate.model.version] if candidate else [])
        return error(
            f"model {name!r} has no version {version!r} here; the served versions are "
            f"{', '.join(repr(v) for v in versions)}",
            404,
        )

    @router.get("/health/live", response_model=LiveResponse)
    async def live() -> Response:
        return json_response({"live": True})

    @router.get("/health/ready", response_model=ReadyResponse)
    async def ready() -> Response:
        return json_response({"ready": True})

    @router.get("", response_model=ServerMetadataResponse)
    async def server_metadata() -> Response:
        return json_response({"name": "headway", "version": __version__, "extensions": []})

    async def model_metadata(name: str, version: str | None) -> Response:
        model = served(name, version)
        return model if isinstance(model, Response) else json_response(metadata(model))

    async def model_ready(name: str, version: str | None) -> Response:
        model = served(name, version)
        if isinstance(model, Response):
            return model
        return json_response({"name": name, "ready": True})

    @router.get("/models/{name}", response_model=ModelMetadataResponse, responses=_ERRORS)
    async def get_model_metadata(name: str) -> Response:
        return await model_metadata(name, None)

    @router.get(
        "/models/{name}/versions/{version}",
        response_model=ModelMetadataResponse,
        responses=_ERRORS,
    )
    async def get_model_version_metadata(name: str, version: str) -> Response:
        return await model_metadata(name, version)

    @router.get("/models/{name}/ready", response_model=ModelReadyResponse, responses=_ERRORS)
    async def get_model_ready(name: str) -> Response:
        return await model_ready(name, None)

    @router.get(
        "/models/{name}/versions/{version}/ready",
        response_model=ModelReadyResponse,
        responses=_ERRORS,
    )
    async def get_model_version_ready(name: str, version: str) -> Response:
        return await model_ready(name, version)

    infer_options: dict[str, Any] = {
        "response_model": InferenceResponse,
        "responses": {
            **_ERRORS,
            413: {"model": ErrorResponse, "description": "the body is over the size limit"},
            503: {"model": ErrorResponse, "description": "the prediction log is unavailable"},
        },
        "openapi_extra": _INFER_BODY,
    }

    @router.post("/models/{name}/infer", **infer_options)
    async def model_infer(name: str, request: Request) -> Response:
        return await infer(name, None, request)

    @router.post("/models/{name}/versions/{version}/infer", **infer_options)
    async def model_version_infer(name: str, version: str, request: Request) -> Response:
        return await infer(name, version, request)

    async def infer(name: str, version: str | None, request: Request) -> Response:
        started = time.perf_counter()
        status = 200
        metrics = state.metrics
        try:
            model = served(name, version)
            if isinstance(model, Response):
                status = model.status_code
                return model
            limit = state.settings.max_body_bytes
            body = await read_body(request, limit)
            body = _decode(body, request.headers.get("content-encoding"), limit)
            header = request.headers.get("inference-header-content-length")
            if header is not None and header.strip() != str(len(body)):
                raise InvalidRequestError(
                    "binary tensor data is not supported; send every input as JSON "
                    "(tritonclient: binary_data=False)"
                )
            if not body:
                raise InvalidRequestError("the request body is empty")
            doc = _loads(body)
            keys = state.features.keys if state.features is not None else frozenset()
            parsed, names = parse_infer(doc, model, keys)
            # Routed as the deployment record says (as /invocations), or by the version in
            # the path; each part finishes on the scorer it started on.
            if version is None:
                result = await state.predict(parsed)
            else:
                result = await state.predict_version(parsed, version)
                if result is None:  # swapped out between the check and the scoring
                    status = 404
                    return error(f"version {version!r} of {name!r} is no longer served", 404)
            answered = result["model"]
            metrics.rows.labels(answered["name"] or "", answered["version"] or "").inc(
                parsed.n_rows
            )
            parameters: dict[str, Any] = {"prediction_ids": result["prediction_ids"]}
            for key in ("routes", "versions"):  # rows answered by a candidate
                if key in result:
                    parameters[key] = result[key]
            for warning in result.get("warnings", ()):
                metrics.schema_violations.labels(warning["column"], warning["check"]).inc()
            if result.get("warnings"):
                parameters["warnings"] = result["warnings"]
            request_id = doc.get("id")
            return json_response(
                {
                    "model_name": model.name or "model",
                    "model_version": answered["version"],
                    "id": request_id if request_id is not None else uuid.uuid4().hex,
                    "parameters": parameters,
                    "outputs": _outputs(result, model, names),
                }
            )
        except HeadwayError as exc:
            response = headway_error(exc)
            status = response.status_code
            return response
        except Exception:  # a bug, not the caller's fault: log it, answer JSON, count a 500
            logger.exception("V2 inference failed")
            status = 500
            return error("prediction failed; see the server log", 500)
        finally:
            metrics.requests.labels(_ENDPOINT, str(status)).inc()
            metrics.latency.labels(_ENDPOINT).observe(time.perf_counter() - started)

    return router
