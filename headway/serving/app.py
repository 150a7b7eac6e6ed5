"""The prediction server: ``create_app(settings)`` builds a FastAPI app around one model.

Endpoints: ``POST /invocations`` (MLflow scoring protocol), ``GET /health/live``,
``GET /health/ready`` (also ``/ping`` and ``/health``, as MLflow's server), ``GET /version``
and ``GET /metrics`` (Prometheus text format).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from headway._version import __version__
from headway.exceptions import (
    HeadwayError,
    InvalidRequestError,
    ModelNotFoundError,
    RequestTooLargeError,
)
from headway.registry import ModelRegistry
from headway.serving.metrics import ServingMetrics
from headway.serving.model import ServedModel
from headway.serving.protocol import parse_request

__all__ = ["ServingSettings", "create_app"]

logger = logging.getLogger(__name__)

# One table from error class to HTTP status (most specific first).
_STATUS: tuple[tuple[type[HeadwayError], int, str], ...] = (
    (RequestTooLargeError, 413, "PAYLOAD_TOO_LARGE"),
    (InvalidRequestError, 400, "BAD_REQUEST"),
    (ModelNotFoundError, 503, "MODEL_NOT_AVAILABLE"),
    (HeadwayError, 500, "INTERNAL_ERROR"),
)


class ServingSettings(BaseModel):
    """What one server instance serves and where it finds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_uri: str = Field(description="models:/NAME@ALIAS or models:/NAME/VERSION")
    # Left out of the repr: a URI may carry a password.
    tracking_uri: str = Field(repr=False)
    registry_uri: str | None = Field(default=None, repr=False)
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)


def _json(content: Any, status: int = 200) -> Response:
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type="application/json",
    )


def _error(exc: HeadwayError) -> Response:
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return _json({"error_code": code, "message": str(exc)}, status)
    raise AssertionError("unreachable: HeadwayError is in the table")


def _explain_param(value: str | None) -> int:
    """``?explain=true`` (5 columns per row), ``?explain=N`` (N columns), or nothing."""
    if value is None or value.lower() in ("", "false", "0", "no"):
        return 0
    if value.lower() in ("true", "yes"):
        return 5
    if value.isdigit() and 0 < int(value) <= 1000:
        return int(value)
    raise InvalidRequestError(
        f"explain={value!r}: use explain=true, or explain=N for the N largest contributions"
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it is known to exceed ``limit`` bytes: from
    ``Content-Length`` before reading, else while streaming (a chunked body).

    Raises:
        RequestTooLargeError: the body is over the limit; the rest of it is never read.
        InvalidRequestError: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InvalidRequestError("the Content-Length header is not a number of bytes")
        if int(declared) > limit:
            raise RequestTooLargeError(
                f"request body of {int(declared)} bytes exceeds the limit of {limit}; "
                "send smaller batches"
            )
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLargeError(
                f"request body exceeds the limit of {limit} bytes; send smaller batches"
            )
    return bytes(body)


def create_app(settings: ServingSettings, *, model: ServedModel | None = None) -> FastAPI:
    """Build the app and load the model now, so that a bad URI fails before serving.

    Args:
        settings: what to serve.
        model: an already loaded model (tests, or a hot swap by a later controller).

    Raises:
        ModelNotFoundError: nothing is registered under ``settings.model_uri``.
    """
    registry = ModelRegistry(settings.tracking_uri, settings.registry_uri)
    served = model or ServedModel.load(settings.model_uri, registry)
    metrics = ServingMetrics.create()
    metrics.model_info.labels(served.name or "", served.version or "", served.uri).set(1)
    app = FastAPI(title="headway prediction server", version=served.version or "")
    app.state.model = served
    app.state.metrics = metrics
    model_doc = {"name": served.name, "version": served.version, "uri": served.uri}

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        status = 200
        try:
            body = await _read_body(request, settings.max_body_bytes)
            if not body:
                raise InvalidRequestError("the request body is empty")
            frame = parse_request(body, request.headers.get("content-type"))
            current: ServedModel = app.state.model
            explain = _explain_param(request.query_params.get("explain"))
            result = await run_in_threadpool(current.predict, frame, explain=explain)
            metrics.rows.labels(current.name or "", current.version or "").inc(len(frame))
            for warning in result.get("warnings", ()):
                metrics.schema_violations.labels(warning["column"], warning["check"]).inc()
            result["prediction_ids"] = [uuid.uuid4().hex for _ in range(len(frame))]
            result["model"] = model_doc
            return _json(result)
        except HeadwayError as exc:
            response = _error(exc)
            status = response.status_code
            return response
        except Exception:  # a bug, not the caller's fault: log it, answer JSON, count a 500
            logger.exception("prediction failed")
            status = 500
            return _json(
                {
                    "error_code": "INTERNAL_ERROR",
                    "message": "prediction failed; see the server log",
                },
                500,
            )
        finally:
            metrics.requests.labels("/invocations", str(status)).inc()
            metrics.latency.labels("/invocations").observe(time.perf_counter() - started)

    @app.get("/health/live")
    async def live() -> Response:
        return _json({"status": "alive"})

    @app.get("/health/ready")
    @app.get("/ping")
    @app.get("/health")
    async def ready() -> Response:
        if getattr(app.state, "model", None) is None:
            return _json({"status": "not ready"}, 503)
        return _json({"status": "ready", "model": model_doc})

    @app.get("/version")
    async def version() -> Response:
        return _json({"headway": __version__, "model": model_doc})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
