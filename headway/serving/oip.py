"""The Open Inference Protocol (KServe V2) REST API, next to MLflow's ``/invocations``.

Endpoints: ``GET /v2/health/live``, ``GET /v2/health/ready``, ``GET /v2`` (server metadata),
``GET /v2/models/{name}[/versions/{version}]`` (model metadata),
``GET /v2/models/{name}[/versions/{version}]/ready`` and
``POST /v2/models/{name}[/versions/{version}]/infer``.

An inference request sends the rows either as one input tensor per model column (the
name is the column, shape ``[n]`` or ``[n, 1]``; BYTES for category columns, a numeric
datatype or BYTES for number columns) or as one 2-D tensor ``[n, k]`` of the model's
``k`` columns in their order (FP32/FP64/INT* when every column is a number, else BYTES).
Data may be flat (row-major) or nested as the shape. The body is read by
:mod:`headway.serving.oip_parse`, and the rows go through the same routing and scorer as
``/invocations``: the deployment record, features filled by entity key, the fast path,
micro-batching, the schema checks and the prediction log.

The binary tensor extension is not supported: binary inputs are a 400, and a request for
binary outputs (``binary_data_output`` or an output's ``binary_data``, which tritonclient
sets by default) is answered in JSON, which every client reads.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import numpy as np
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
from headway.serving.oip_parse import decode_body, load_body, parse_infer

__all__ = ["oip_router"]

logger = logging.getLogger(__name__)

_ENDPOINT = "/v2/infer"  # the ``endpoint`` label of the request metrics


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
            body = decode_body(body, request.headers.get("content-encoding"), limit)
            header = request.headers.get("inference-header-content-length")
            if header is not None and header.strip() != str(len(body)):
                raise InvalidRequestError(
                    "binary tensor data is not supported; send every input as JSON "
                    "(tritonclient: binary_data=False)"
                )
            if not body:
                raise InvalidRequestError("the request body is empty")
            doc = load_body(body)
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
